// The live-updates WebSocket: connects, reconnects with backoff, exposes
// its state, hands parsed messages to listeners. After a reconnect the app
// re-reads the REST API (messages may have been missed while away).
import { backoff, parseLiveMessage, type LiveMessage } from './merge';

export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'offline';

/** WS_PATH is the local server's WebSocket endpoint (internal/notify). */
export const WS_PATH = '/api/ws';

export class Live {
  state: LiveState = 'connecting';
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: number | undefined;
  private stopped = false;
  private opened = false;
  private readonly stateFns: ((s: LiveState, retryInMs?: number) => void)[] = [];
  private readonly msgFns: ((m: LiveMessage) => void)[] = [];
  private readonly resyncFns: (() => void)[] = [];

  constructor(private readonly url: string = defaultUrl()) {}

  onState(fn: (s: LiveState, retryInMs?: number) => void): void { this.stateFns.push(fn); }
  onMessage(fn: (m: LiveMessage) => void): void { this.msgFns.push(fn); }
  /** onResync runs after every reconnection (not the first connection). */
  onResync(fn: () => void): void { this.resyncFns.push(fn); }

  private set(s: LiveState, retry?: number): void {
    this.state = s;
    this.stateFns.forEach((f) => f(s, retry));
  }

  start(): void {
    this.stopped = false;
    this.connect();
    window.addEventListener('online', () => this.reconnectNow());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && this.state !== 'live') this.reconnectNow();
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ws?.close(1000, 'bye');
  }

  reconnectNow(): void {
    if (this.stopped || this.state === 'live' || this.state === 'connecting') return;
    clearTimeout(this.timer);
    this.connect();
  }

  private connect(): void {
    this.set(this.opened ? 'reconnecting' : 'connecting');
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      const wasOpened = this.opened;
      this.opened = true;
      this.attempt = 0;
      this.set('live');
      try { ws.send(JSON.stringify({ type: 'subscribe', workers: ['*'] })); } catch { /* ignored */ }
      if (wasOpened) this.resyncFns.forEach((f) => f());
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      const m = parseLiveMessage(ev.data);
      if (m) this.msgFns.forEach((f) => f(m));
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (!this.stopped) this.scheduleRetry();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  private scheduleRetry(): void {
    const d = backoff(this.attempt++);
    this.set('offline', d);
    this.timer = window.setTimeout(() => this.connect(), d);
  }
}

function defaultUrl(): string {
  const cfg = (window as unknown as { CMLCM_CONFIG?: { wsUrl?: string } }).CMLCM_CONFIG;
  if (cfg?.wsUrl) return cfg.wsUrl;
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}${WS_PATH}`;
}
