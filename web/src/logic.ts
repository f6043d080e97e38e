// Derived facts of a worker: idle countdown, provisioning timeline, last
// action. Pure: the unit tests cover them.
import type { IdlePolicy, Worker, WorkerEvent } from './types';

export const PROVISIONING_STEPS = [
  { id: 'validate', label: 'Validate request and settings' },
  { id: 'launch', label: 'Launch instance' },
  { id: 'wait-running', label: 'Wait until running' },
  { id: 'wait-status-checks', label: 'Wait for status checks' },
  { id: 'wait-cml-ready', label: 'Wait for CML ready' },
  { id: 'register-license', label: 'Register licence' },
  { id: 'ready', label: 'Ready' },
] as const;

export interface StepRow {
  id: string;
  label: string;
  state: 'done' | 'current' | 'failed' | 'pending' | 'skipped';
  startedAt: number | null;
  elapsedMs: number | null;
}

/**
 * provisioningTimeline builds the workflow's steps with elapsed times from
 * the worker's provisioning view and its step events
 * (cml.worker.provisioning_step_started.v1 carrying data.step).
 */
export function provisioningTimeline(w: Worker, events: WorkerEvent[], now: number = Date.now()): StepRow[] {
  const starts = new Map<string, number>();
  const ordered = [...events]
    .filter((e) => e.type.includes('provisioning_step_started'))
    .sort((a, b) => a.version - b.version);
  for (const e of ordered) {
    const step = String((e.data as { step?: string })?.step ?? '');
    if (step) starts.set(step, Date.parse(e.time)); // the latest start of a step wins (retries)
  }
  const p = w.provisioning;
  if (p.step && p.stepStartedAt && !starts.has(p.step)) starts.set(p.step, Date.parse(p.stepStartedAt));
  const completedAt = p.completedAt ? Date.parse(p.completedAt) : null;
  const order: string[] = PROVISIONING_STEPS.map((s) => s.id);
  const extra = [...starts.keys()].filter((k) => !order.includes(k) && k !== 'compensate');
  const ids = [...order, ...extra];
  const currentIdx = ids.indexOf(p.step);
  const rows: StepRow[] = ids.map((id) => {
    const label = PROVISIONING_STEPS.find((s) => s.id === id)?.label ?? id;
    return { id, label, state: 'pending', startedAt: starts.get(id) ?? null, elapsedMs: null };
  });
  // a step ends when the next started step begins
  const startedIdx = rows.map((r, i) => (r.startedAt != null ? i : -1)).filter((i) => i >= 0);
  for (let k = 0; k < startedIdx.length; k++) {
    const r = rows[startedIdx[k]];
    const next = startedIdx[k + 1];
    const end = next !== undefined ? rows[next].startedAt! : null;
    const isCurrent = startedIdx[k] === currentIdx && p.state === 'in-progress';
    if (end != null) r.elapsedMs = end - r.startedAt!;
    else if (isCurrent) r.elapsedMs = now - r.startedAt!;
    else if (completedAt) r.elapsedMs = Math.max(0, completedAt - r.startedAt!);
  }
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (p.state === 'failed' && (r.id === p.failedStep || (!p.failedStep && i === currentIdx))) r.state = 'failed';
    else if (p.state === 'completed') r.state = r.startedAt != null || r.id === 'ready' ? 'done' : 'skipped';
    else if (i === currentIdx && p.state === 'in-progress') r.state = 'current';
    else if (r.startedAt != null && (currentIdx < 0 || i < currentIdx)) r.state = 'done';
    else if (currentIdx >= 0 && i < currentIdx) r.state = 'skipped';
  }
  return rows;
}

export interface IdleInfo {
  /** kind: "pausing" (warning issued, counting down to pauseAt), "idle" (clock running), "off", "n/a" */
  kind: 'pausing' | 'idle' | 'off' | 'n/a';
  /** deadline of the pause (ms since epoch) when known */
  pauseAt: number | null;
  /** idle since (ms) when known */
  idleSince: number | null;
}

/**
 * idleInfo tells where a worker's idle clock stands. The API gives
 * pauseAt once a warning is issued; before that the deadline is
 * idleSince + timeout of the worker's policy (or the fleet default, when
 * known).
 */
export function idleInfo(w: Worker, fleetPolicy: IdlePolicy | null = null): IdleInfo {
  if (w.status !== 'running' || w.desiredPower !== 'running') return { kind: 'n/a', pauseAt: null, idleSince: null };
  const policy = w.idle.policy ?? fleetPolicy;
  if (policy && !policy.enabled) return { kind: 'off', pauseAt: null, idleSince: null };
  const idleSince = w.idle.idleSince ? Date.parse(w.idle.idleSince) : null;
  if (w.idle.pauseAt) return { kind: 'pausing', pauseAt: Date.parse(w.idle.pauseAt), idleSince };
  if (idleSince != null && policy) return { kind: 'idle', pauseAt: idleSince + policy.timeoutMinutes * 60000, idleSince };
  return { kind: 'idle', pauseAt: null, idleSince };
}

/** lastAction tells the worker's latest pause, resume or creation and who did it. */
export function lastAction(w: Worker): { what: string; by: string; at: string | null } {
  const cands: { what: string; by: string; at: string | null }[] = [];
  const a = w.activity;
  if (a.lastPausedAt) cands.push({ what: a.lastPauseAuto ? 'auto-paused' : 'stopped', by: a.lastPausedBy, at: a.lastPausedAt });
  if (a.lastResumedAt) cands.push({ what: a.lastResumeAuto ? 'woken' : 'started', by: a.lastResumedBy, at: a.lastResumedAt });
  if (w.terminatedAt) cands.push({ what: 'terminated', by: w.terminatedBy, at: w.terminatedAt });
  if (w.createdAt) cands.push({ what: w.imported ? 'imported' : 'created', by: w.createdBy, at: w.createdAt });
  if (cands.length === 0) return { what: '', by: '', at: null };
  cands.sort((x, y) => Date.parse(y.at!) - Date.parse(x.at!));
  return cands[0];
}

export type SortKey = 'name' | 'region' | 'status' | 'cml' | 'license' | 'cpu' | 'memory' | 'disk' | 'nodes' | 'labs' | 'idle' | 'last';

export interface WorkerFilter { text: string; region: string; status: string }

/** filterWorkers applies the fleet table's filters (text matches name, id, instance id, IPs, tags). */
export function filterWorkers(list: Worker[], f: WorkerFilter): Worker[] {
  const q = f.text.trim().toLowerCase();
  return list.filter((w) => {
    if (f.region && w.region !== f.region) return false;
    if (f.status && w.status !== f.status) return false;
    if (!q) return true;
    const hay = [w.name, w.id, w.instanceId, w.publicIp, w.privateIp, w.instanceType, ...Object.entries(w.tags ?? {}).map(([k, v]) => `${k}=${v}`)]
      .join(' ').toLowerCase();
    return hay.includes(q);
  });
}

function sortValue(w: Worker, k: SortKey, fleetPolicy: IdlePolicy | null): string | number {
  const m = w.metrics;
  switch (k) {
    case 'name': return w.name.toLowerCase();
    case 'region': return w.region;
    case 'status': return w.status;
    case 'cml': return (w.cml.ready ? '1' : '0') + w.cml.version;
    case 'license': return w.cml.licenseStatus;
    case 'cpu': return m?.cpuPercent ?? -1;
    case 'memory': return m?.memoryPercent ?? -1;
    case 'disk': return m?.diskPercent ?? -1;
    case 'nodes': return m?.runningNodes ?? -1;
    case 'labs': return m?.labCount ?? -1;
    case 'idle': { const i = idleInfo(w, fleetPolicy); return i.pauseAt ?? Number.MAX_SAFE_INTEGER; }
    case 'last': { const l = lastAction(w); return l.at ? Date.parse(l.at) : 0; }
  }
}

/** sortWorkers sorts a copy by a column; ties break on name then id so the order is stable. */
export function sortWorkers(list: Worker[], key: SortKey, dir: 'asc' | 'desc', fleetPolicy: IdlePolicy | null = null): Worker[] {
  const sign = dir === 'asc' ? 1 : -1;
  return [...list].sort((a, b) => {
    const va = sortValue(a, key, fleetPolicy), vb = sortValue(b, key, fleetPolicy);
    if (va < vb) return -sign;
    if (va > vb) return sign;
    return a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
  });
}

/** consoleUrl links an EC2 instance (or AMI) to the AWS console. */
export function consoleUrl(region: string, kind: 'instance' | 'ami', id: string): string {
  const r = encodeURIComponent(region || 'us-east-1');
  const host = `https://${r}.console.aws.amazon.com/ec2/home?region=${r}`;
  return kind === 'instance'
    ? `${host}#InstanceDetails:instanceId=${encodeURIComponent(id)}`
    : `${host}#ImageDetails:imageId=${encodeURIComponent(id)}`;
}

/** sessionWarning tells whether to warn about the session's expiry (within windowMs) and how long is left. */
export function sessionWarning(expiresAt: string | null | undefined, now: number = Date.now(), windowMs = 10 * 60000): { warn: boolean; leftMs: number } {
  if (!expiresAt) return { warn: false, leftMs: Infinity };
  const left = Date.parse(expiresAt) - now;
  if (!Number.isFinite(left)) return { warn: false, leftMs: Infinity };
  return { warn: left <= windowMs, leftMs: left };
}

/** parseTags reads "key=value" lines into a map; returns an error sentence on a bad line. */
export function parseTags(text: string): { tags: Record<string, string>; error: string } {
  const tags: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) return { tags, error: `Line ${i + 1}: write key=value.` };
    const k = line.slice(0, eq).trim(), v = line.slice(eq + 1).trim();
    if (k.toLowerCase().startsWith('cmlcm:')) return { tags, error: `Line ${i + 1}: ${k} is a managed tag and cannot be changed.` };
    tags[k] = v;
  }
  return { tags, error: '' };
}
