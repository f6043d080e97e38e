// Application state shared by the pages: who is signed in, the fleet (by
// id, version-guarded), the summary, and the fleet idle policy when the
// viewer may read the settings. Live messages and REST reads both merge here.
import { Api } from './api';
import { VersionedMap, type LiveMessage } from './merge';
import type { FleetSummary, IdlePolicy, Lab, Principal, Worker, WorkerEvent } from './types';

type Fn<T> = (v: T) => void;

class Emitter<T> {
  private fns = new Set<Fn<T>>();
  on(fn: Fn<T>): () => void { this.fns.add(fn); return () => this.fns.delete(fn); }
  emit(v: T): void { this.fns.forEach((f) => f(v)); }
}

export const store = {
  me: null as Principal | null,
  workers: new VersionedMap<Worker>(),
  workersLoaded: false,
  summary: null as FleetSummary | null,
  fleetPolicy: null as IdlePolicy | null,
  labs: new VersionedMap<Lab & { id: string }>(),
  /** ids of workers whose data changed */
  workersChanged: new Emitter<Set<string>>(),
  labChanged: new Emitter<Lab>(),
  workerEvent: new Emitter<WorkerEvent>(),
  summaryChanged: new Emitter<FleetSummary>(),
};

export function labKey(l: Pick<Lab, 'workerId' | 'labId' | 'id'>): string {
  return `${l.workerId}/${l.labId || l.id}`;
}

/** mergeWorker merges a worker read model (from REST or live); returns whether it changed. */
export function mergeWorker(w: Worker): boolean {
  if (!w || !w.id) return false;
  const changed = store.workers.merge(w);
  if (changed) { store.workersChanged.emit(new Set([w.id])); scheduleSummary(); }
  return changed;
}

export function mergeLab(l: Lab): boolean {
  if (!l || !l.workerId) return false;
  const key = labKey(l);
  const changed = store.labs.merge({ ...l, id: key, labId: l.labId || l.id });
  if (changed) store.labChanged.emit(store.labs.get(key)!);
  return changed;
}

export async function loadWorkers(): Promise<void> {
  const list = await Api.workers();
  const changed = store.workers.replaceAll(list);
  store.workersLoaded = true;
  store.workersChanged.emit(changed);
}

let summaryTimer: number | undefined;
let summaryInflight = false;
/** scheduleSummary re-reads the fleet summary soon (throttled: savings are server-side). */
export function scheduleSummary(delay = 1500): void {
  if (summaryTimer !== undefined) return;
  summaryTimer = window.setTimeout(async () => {
    summaryTimer = undefined;
    if (summaryInflight) return;
    summaryInflight = true;
    try { await loadSummary(); } catch { /* shown on next page load */ } finally { summaryInflight = false; }
  }, delay);
}

export async function loadSummary(): Promise<void> {
  store.summary = await Api.summary();
  store.summaryChanged.emit(store.summary);
}

/** handleLive merges one WebSocket message. */
export function handleLive(m: LiveMessage): void {
  const d = m.data as Record<string, unknown> | null;
  if (!d) return;
  switch (m.type) {
    case 'worker.updated':
    case 'worker.created':
      mergeWorker(d as unknown as Worker);
      break;
    case 'worker.removed':
    case 'worker.deleted':
      if (store.workers.remove(String(d.id), Number(d.version ?? Number.MAX_SAFE_INTEGER))) {
        store.workersChanged.emit(new Set([String(d.id)]));
        scheduleSummary();
      }
      break;
    case 'lab.updated':
    case 'lab.removed':
      mergeLab(d as unknown as Lab);
      break;
    case 'worker.event':
      store.workerEvent.emit(d as unknown as WorkerEvent);
      break;
    case 'fleet.summary':
      store.summary = d as unknown as FleetSummary;
      store.summaryChanged.emit(store.summary);
      break;
  }
}
