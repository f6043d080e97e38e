// The REST API client: same-origin, cookie session, CSRF header on writes,
// problem+json errors turned into ApiError with a sentence.
import { ApiError, errorFromResponse, networkError } from './problem';
import type { FleetSummary, ImportResult, Lab, MetricsResponse, Page, Principal, Settings, Worker, WorkerEvent } from './types';

/** CSRF header cookie-authenticated writes send back (internal/auth); /api/auth/me may name another. */
let csrfHeader = 'X-CSRF-Token';
let csrfToken = '';

export function setCsrf(token: string | undefined, header?: string): void {
  csrfToken = token ?? '';
  if (header) csrfHeader = header;
}

type Listener = (err: ApiError) => void;
const unauthListeners: Listener[] = [];
/** onUnauthenticated is told of every 401 (the session ended). */
export function onUnauthenticated(fn: Listener): void { unauthListeners.push(fn); }

export interface RequestOptions {
  body?: unknown;
  raw?: BodyInit;
  contentType?: string;
  accept?: string;
  signal?: AbortSignal;
  quiet401?: boolean;
}

export async function request(method: string, path: string, o: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: o.accept ?? 'application/json' };
  let body: BodyInit | undefined;
  if (o.raw !== undefined) {
    body = o.raw;
    if (o.contentType) headers['Content-Type'] = o.contentType;
  } else if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    headers['Content-Type'] = o.contentType ?? 'application/json';
  }
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers[csrfHeader] = csrfToken;
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body, credentials: 'same-origin', signal: o.signal, cache: 'no-store' });
  } catch (e) {
    if ((e as Error)?.name === 'AbortError') throw e;
    throw networkError(e);
  }
  if (!res.ok) {
    const err = await errorFromResponse(res);
    if (res.status === 401 && !o.quiet401) unauthListeners.forEach((f) => f(err));
    throw err;
  }
  return res;
}

export async function json<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
  const res = await request(method, path, o);
  if (res.status === 204) return undefined as T;
  const ct = res.headers.get('content-type') ?? '';
  if (!ct.includes('json')) return undefined as T;
  return (await res.json()) as T;
}

const enc = encodeURIComponent;

/** listAll follows the cursor until the last page. */
async function listAll<T>(path: string, signal?: AbortSignal): Promise<T[]> {
  const out: T[] = [];
  let cursor = '';
  for (let i = 0; i < 100; i++) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await json<Page<T>>('GET', `${path}${sep}limit=500${cursor ? `&cursor=${enc(cursor)}` : ''}`, { signal });
    out.push(...(page.items ?? []));
    if (!page.next) break;
    cursor = page.next;
  }
  return out;
}

export const Api = {
  me: (quiet = true) => json<Principal>('GET', '/api/auth/me', { quiet401: quiet }),
  logout: () => json<{ logoutUrl?: string; redirect?: string } | undefined>('POST', '/api/auth/logout'),
  workers: (signal?: AbortSignal) => listAll<Worker>('/api/workers', signal),
  worker: (id: string) => json<Worker>('GET', `/api/workers/${enc(id)}`),
  summary: () => json<FleetSummary>('GET', '/api/fleet/summary'),
  events: (id: string, cursor = '', limit = 50) =>
    json<Page<WorkerEvent>>('GET', `/api/workers/${enc(id)}/events?limit=${limit}${cursor ? `&cursor=${enc(cursor)}` : ''}`),
  metrics: (id: string, from: Date, to: Date) =>
    json<MetricsResponse>('GET', `/api/workers/${enc(id)}/metrics?from=${enc(from.toISOString())}&to=${enc(to.toISOString())}`),
  start: (id: string, reason = '') => json<Worker>('POST', `/api/workers/${enc(id)}/start`, { body: { reason } }),
  stop: (id: string, reason = '') => json<Worker>('POST', `/api/workers/${enc(id)}/stop`, { body: { reason } }),
  refresh: (id: string) => json<Worker>('POST', `/api/workers/${enc(id)}/refresh`),
  keepRunning: (id: string) => json<Worker>('POST', `/api/workers/${enc(id)}/keep-running`),
  setIdlePolicy: (id: string, p: unknown) => json<Worker>('PUT', `/api/workers/${enc(id)}/idle-policy`, { body: p }),
  setSchedule: (id: string, s: unknown) => json<Worker>('PUT', `/api/workers/${enc(id)}/schedule`, { body: s }),
  registerLicense: (id: string, licenseToken: string, reregister: boolean) =>
    json<Worker>('POST', `/api/workers/${enc(id)}/license`, { body: licenseToken ? { licenseToken, reregister } : { reregister } }),
  deregisterLicense: (id: string) => json<Worker>('DELETE', `/api/workers/${enc(id)}/license`),
  setTags: (id: string, tags: Record<string, string>) => json<Worker>('PUT', `/api/workers/${enc(id)}/tags`, { body: { tags } }),
  remove: (id: string, terminate: boolean) => json<Worker | undefined>('DELETE', `/api/workers/${enc(id)}?terminate=${terminate}`),
  create: (body: unknown) => json<Worker>('POST', '/api/workers', { body }),
  import: (body: unknown) => json<ImportResult>('POST', '/api/workers/import', { body }),
  labs: (id: string) => json<Page<Lab>>('GET', `/api/workers/${enc(id)}/labs`).then((p) => p.items ?? []),
  labAction: (id: string, labId: string, action: 'start' | 'stop' | 'wipe') =>
    json<Lab>('POST', `/api/workers/${enc(id)}/labs/${enc(labId)}/${action}`),
  deleteLab: (id: string, labId: string) => json<void>('DELETE', `/api/workers/${enc(id)}/labs/${enc(labId)}`),
  topology: async (id: string, labId: string) =>
    (await request('GET', `/api/workers/${enc(id)}/labs/${enc(labId)}/topology`, { accept: 'application/yaml, text/yaml, */*' })).text(),
  importLab: (id: string, file: File | Blob, title = '') => {
    const fd = new FormData();
    fd.append('file', file, (file as File).name ?? 'topology.yaml');
    if (title) fd.append('title', title);
    return json<Lab>('POST', `/api/workers/${enc(id)}/labs`, { raw: fd });
  },
  settings: () => json<Settings>('GET', '/api/settings'),
  putSettings: (patch: unknown) => json<Settings>('PUT', '/api/settings', { body: patch, contentType: 'application/merge-patch+json' }),
};
