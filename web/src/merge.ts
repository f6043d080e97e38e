// Live-update merging. The WebSocket and the REST API both deliver read
// models carrying a version; whichever arrives, an older version never
// overwrites a newer one. Pure: the unit tests cover it.

export interface Versioned { id: string; version: number }

/** newer reports whether incoming should replace current. Equal versions replace (same data, maybe fresher decorations such as metrics). */
export function newer(current: Versioned | undefined, incoming: Versioned): boolean {
  if (!current) return true;
  return (incoming.version ?? 0) >= (current.version ?? 0);
}

/** Tombstone marks an id removed at a version, so a late update cannot resurrect it. */
export interface Tombstone { id: string; version: number }

/**
 * VersionedMap holds read models by id with the version guard and
 * tombstones. merge returns whether the map changed.
 */
export class VersionedMap<T extends Versioned> {
  private items = new Map<string, T>();
  private gone = new Map<string, number>();

  get size(): number { return this.items.size; }
  get(id: string): T | undefined { return this.items.get(id); }
  values(): T[] { return [...this.items.values()]; }
  has(id: string): boolean { return this.items.has(id); }

  merge(incoming: T): boolean {
    const tomb = this.gone.get(incoming.id);
    if (tomb !== undefined && (incoming.version ?? 0) <= tomb) return false;
    const cur = this.items.get(incoming.id);
    if (!newer(cur, incoming)) return false;
    if (cur && cur.version === incoming.version && sameJSON(cur, incoming)) return false;
    this.items.set(incoming.id, incoming);
    return true;
  }

  /** replaceAll loads a full listing (REST) while keeping any newer live versions already held. Returns the ids whose data changed. */
  replaceAll(list: T[]): Set<string> {
    const changed = new Set<string>();
    const seen = new Set<string>();
    for (const it of list) {
      seen.add(it.id);
      if (this.merge(it)) changed.add(it.id);
    }
    for (const id of [...this.items.keys()]) {
      if (!seen.has(id)) { this.items.delete(id); changed.add(id); }
    }
    return changed;
  }

  remove(id: string, version: number): boolean {
    const cur = this.items.get(id);
    if (cur && cur.version > version) return false;
    this.gone.set(id, Math.max(version, this.gone.get(id) ?? 0));
    return this.items.delete(id);
  }
}

function sameJSON(a: unknown, b: unknown): boolean {
  try { return JSON.stringify(a) === JSON.stringify(b); } catch { return false; }
}

/** LiveMessage is one WebSocket message as internal/notify sends it. */
export interface LiveMessage {
  type: string;
  data: unknown;
}

/**
 * parseLiveMessage accepts the documented envelope {type, data} and the
 * tolerant variants {type, worker|lab|event|payload}; anything else is
 * null (ignored).
 */
export function parseLiveMessage(raw: string): LiveMessage | null {
  let m: unknown;
  try { m = JSON.parse(raw); } catch { return null; }
  if (!m || typeof m !== 'object') return null;
  const o = m as Record<string, unknown>;
  const type = typeof o.type === 'string' ? o.type : '';
  if (!type) return null;
  const data = o.data ?? o.worker ?? o.lab ?? o.event ?? o.payload ?? null;
  return { type, data };
}

/**
 * backoff is the reconnect delay of attempt n (0-based): exponential from
 * base, capped, with ±20% jitter from rand (0..1).
 */
export function backoff(attempt: number, rand: number = Math.random(), base = 500, cap = 30000): number {
  const exp = Math.min(cap, base * 2 ** Math.max(0, attempt));
  const jitter = 1 + (rand * 0.4 - 0.2);
  return Math.round(Math.min(cap, exp * jitter));
}
