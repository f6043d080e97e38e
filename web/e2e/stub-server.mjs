// A stub of the CML Cloud Manager API for the dashboard's browser tests and
// rendering benchmark: serves web/dist, an in-memory API with the documented
// shapes (issue 4/5), a dev-provider-like login form, and the live-updates
// WebSocket. It is NOT the product: the real API is internal/api.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { WebSocketServer } from 'ws';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const USERS = { admin: ['admin'], manager: ['manager'], user: ['user'], guest: [] };
const ANY = ['user', 'manager', 'admin'], MGR = ['manager', 'admin'], ADM = ['admin'];
const RULES = [
  ['GET', /^\/api\/workers$/, ANY], ['POST', /^\/api\/workers$/, ADM], ['POST', /^\/api\/workers\/import$/, ADM],
  ['GET', /^\/api\/workers\/[^/]+$/, ANY], ['DELETE', /^\/api\/workers\/[^/]+$/, ADM],
  ['GET', /^\/api\/workers\/[^/]+\/(events|metrics|labs)$/, ANY], ['POST', /^\/api\/workers\/[^/]+\/(start|refresh|keep-running)$/, ANY],
  ['POST', /^\/api\/workers\/[^/]+\/stop$/, MGR], ['PUT', /^\/api\/workers\/[^/]+\/(idle-policy|schedule)$/, MGR],
  ['POST', /^\/api\/workers\/[^/]+\/license$/, MGR], ['DELETE', /^\/api\/workers\/[^/]+\/license$/, MGR], ['PUT', /^\/api\/workers\/[^/]+\/tags$/, ADM],
  ['POST', /^\/api\/workers\/[^/]+\/labs$/, MGR], ['GET', /^\/api\/workers\/[^/]+\/labs\/[^/]+(\/topology)?$/, ANY],
  ['POST', /^\/api\/workers\/[^/]+\/labs\/[^/]+\/(start|stop)$/, ANY], ['POST', /^\/api\/workers\/[^/]+\/labs\/[^/]+\/wipe$/, MGR],
  ['DELETE', /^\/api\/workers\/[^/]+\/labs\/[^/]+$/, MGR], ['GET', /^\/api\/fleet\/summary$/, ANY], ['GET', /^\/api\/settings$/, ADM], ['PUT', /^\/api\/settings$/, ADM],
];
const STEPS = ['validate', 'launch', 'wait-running', 'wait-status-checks', 'wait-cml-ready', 'ready'];
const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1', 'ap-southeast-1'];
const PRICES = { 'm5zn.metal': 3.964, 'm5.metal': 4.608, 'c5.metal': 4.08 };
const iso = (t = Date.now()) => new Date(t).toISOString();

function makeWorker(i, over = {}) {
  const running = i % 3 !== 2;
  const now = Date.now();
  return {
    id: randomUUID(), name: `cml-worker-${String(i).padStart(3, '0')}`, region: REGIONS[i % REGIONS.length], instanceType: 'm5zn.metal',
    amiId: 'ami-0cml29', amiName: 'CML-2.9.0', status: running ? 'running' : 'stopped', desiredPower: running ? 'running' : 'stopped',
    instanceId: `i-0${(0x1000000 + i).toString(16)}abcdef`.slice(0, 19), publicIp: running ? `3.0.${i % 250}.${(i * 7) % 250}` : '', privateIp: `10.0.${i % 250}.${(i * 3) % 250}`,
    endpoint: running ? `https://3.0.${i % 250}.${(i * 7) % 250}` : '', imported: false, tags: { team: ['netops', 'training', 'sec'][i % 3] },
    cml: { ready: running, version: '2.9.0', licenseStatus: 'registered', serviceStatus: running ? 'available' : 'unavailable', licenseTokenConfigured: true, licenseOperation: '', licenseError: '', observedAt: iso() },
    idle: { policy: null, lastActivityAt: iso(now - 600_000), idleSince: running ? iso(now - (i % 50) * 60_000) : null, warningIssuedAt: null, pauseAt: null },
    provisioning: { state: 'completed', step: 'ready', startedAt: iso(now - 86400_000), stepStartedAt: iso(now - 86000_000), completedAt: iso(now - 86000_000), error: '', failedStep: '' },
    ec2: { state: running ? 'running' : 'stopped', observedAt: iso(), reason: '', systemStatus: running ? 'ok' : 'not-applicable', instanceStatus: running ? 'ok' : 'not-applicable', runningSince: running ? iso(now - 7200_000) : null },
    activity: { autoPauseCount: i % 4, manualPauseCount: 0, autoResumeCount: 0, manualResumeCount: 1, lastPausedAt: running ? null : iso(now - 3600_000), lastPausedBy: running ? '' : 'system:idle', lastPauseReason: running ? '' : 'idle for 60 minutes', lastPauseAuto: !running, lastPauseIdleMinutes: running ? 0 : 60, lastResumedAt: iso(now - 7200_000), lastResumedBy: 'alice', lastResumeReason: '', lastResumeAuto: false },
    schedule: null, createdAt: iso(now - 86400_000), createdBy: 'admin', updatedAt: iso(), terminatedAt: null, terminatedBy: '', version: 10,
    metrics: running ? { cpuPercent: (i * 37) % 100, memoryPercent: (i * 53) % 100, diskPercent: (i * 11) % 100, runningNodes: i % 40, labCount: i % 6, at: iso() } : null,
    costPerHour: running ? 3.964 : 0, pricePerHour: 3.964, ...over,
  };
}

export async function startStub({ port = 0, workers = 3, stepMs = 400, autoPauseMs = 2500, quiet = true } = {}) {
  const state = { workers: new Map(), events: new Map(), labs: new Map(), settings: null, csrf: new Map() };
  state.settings = {
    provisioning: { amis: Object.fromEntries(REGIONS.map((r) => [r, { id: 'ami-0cml29', name: 'CML-2.9.0' }])), instanceType: 'm5zn.metal', subnets: {}, securityGroups: {}, keyPairName: '', rootVolumeGiB: 0, instanceProfile: '', keepFailedInstance: false, timeouts: {} },
    intervals: { metricsSeconds: 60, labsRefreshSeconds: 120, idleCheckSeconds: 60, discoverySeconds: 0 },
    discovery: { enabled: false, regions: [], tagKey: '', tagValue: '', amiNamePattern: '' },
    idlePolicy: { enabled: true, timeoutMinutes: 60, warningMinutes: 10, snoozeMinutes: 60 }, prices: PRICES, telemetryRetentionDays: 14,
    license: { pollSeconds: 5, timeoutSeconds: 90 }, updatedAt: null, updatedBy: '', version: 1,
  };
  for (let i = 0; i < workers; i++) { const w = makeWorker(i); state.workers.set(w.id, w); state.events.set(w.id, []); }
  const sockets = new Set();
  const broadcast = (type, data) => { const m = JSON.stringify({ type, data }); for (const s of sockets) if (s.readyState === 1) s.send(m); };
  const record = (w, type, actor, data = {}) => {
    w.version += 1; w.updatedAt = iso();
    const e = { id: randomUUID(), type: `cml.worker.${type}.v1`, aggregateType: 'worker', aggregateId: w.id, version: w.version, time: iso(), actor, correlationId: '', schemaVersion: 1, data };
    state.events.get(w.id).unshift(e);
    broadcast('worker.event', e);
    broadcast('worker.updated', w);
  };
  const autoPauses = [];
  const scheduleAutoPause = (w) => {
    const pol = w.idle.policy;
    if (!pol?.enabled || w.status !== 'running') return;
    const t1 = setTimeout(() => {
      const running = [...state.labs.values()].some((l) => l.workerId === w.id && l.state === 'STARTED');
      if (w.status !== 'running' || running) return;
      w.idle.warningIssuedAt = iso(); w.idle.pauseAt = iso(Date.now() + autoPauseMs);
      record(w, 'idle_warning_issued', 'system:idle', { idleSince: w.idle.idleSince, pauseAt: w.idle.pauseAt, idleMinutes: pol.timeoutMinutes });
      const t2 = setTimeout(() => {
        if (w.status !== 'running') return;
        Object.assign(w, { status: 'stopped', desiredPower: 'stopped', costPerHour: 0, metrics: null });
        w.ec2.state = 'stopped'; w.cml.ready = false; w.idle.pauseAt = null; w.idle.warningIssuedAt = null; w.idle.idleSince = null;
        Object.assign(w.activity, { autoPauseCount: w.activity.autoPauseCount + 1, lastPausedAt: iso(), lastPausedBy: 'system:idle', lastPauseAuto: true, lastPauseIdleMinutes: pol.timeoutMinutes, lastPauseReason: `idle for ${pol.timeoutMinutes} minutes` });
        record(w, 'paused', 'system:idle', { reason: `idle for ${pol.timeoutMinutes} minutes`, auto: true, idleMinutes: pol.timeoutMinutes, fromStatus: 'running' });
      }, autoPauseMs);
      autoPauses.push(t2);
    }, autoPauseMs);
    autoPauses.push(t1);
  };
  const provision = (w) => {
    let k = 0;
    const next = () => {
      if (k >= STEPS.length) return;
      const step = STEPS[k++];
      w.provisioning.step = step; w.provisioning.stepStartedAt = iso();
      if (step === 'wait-running') { w.status = 'pending'; w.instanceId = `i-0${randomUUID().replace(/-/g, '').slice(0, 16)}`; w.ec2.state = 'pending'; }
      if (step === 'wait-status-checks') { w.status = 'running'; w.ec2.state = 'running'; w.ec2.runningSince = iso(); w.costPerHour = w.pricePerHour; w.publicIp = '3.1.2.3'; w.endpoint = 'https://3.1.2.3'; }
      if (step === 'ready') {
        Object.assign(w.provisioning, { state: 'completed', completedAt: iso() });
        Object.assign(w.cml, { ready: true, version: '2.9.0', serviceStatus: 'available', licenseStatus: 'registered' });
        w.idle.idleSince = iso(); w.metrics = { cpuPercent: 12, memoryPercent: 30, diskPercent: 8, runningNodes: 0, labCount: 0, at: iso() };
        record(w, 'provisioning_step_started', 'system:provision', { step });
        record(w, 'provisioning_completed', 'system:provision', { durationSeconds: Math.round((Date.now() - Date.parse(w.provisioning.startedAt)) / 1000) });
        return;
      }
      record(w, 'provisioning_step_started', 'system:provision', { step });
      setTimeout(next, stepMs);
    };
    setTimeout(next, 50);
  };

  const problem = (res, status, slug, title, detail, field) => {
    res.writeHead(status, { 'Content-Type': 'application/problem+json', ...(status === 401 ? { 'WWW-Authenticate': 'Bearer realm="cmlcm"' } : {}) });
    res.end(JSON.stringify({ type: `https://cmlcm.dev/problems/${slug}`, title, status, detail, ...(field ? { field } : {}) }));
  };
  const send = (res, status, body) => { res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }); res.end(JSON.stringify(body)); };
  const readBody = (req) => new Promise((ok) => { const c = []; req.on('data', (d) => c.push(d)); req.on('end', () => ok(Buffer.concat(c).toString('utf8'))); });
  const userOf = (req) => /(?:^|;\s*)stub_session=(\w+)/.exec(req.headers.cookie ?? '')?.[1];

  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://x');
      const p = url.pathname;
      if (!p.startsWith('/api/')) return serveStatic(res, p);
      if (p === '/api/health') return send(res, 200, { status: 'ok' });
      if (p === '/api/auth/login' && req.method === 'GET') {
        const rt = url.searchParams.get('return_to') || '/';
        res.writeHead(200, { 'Content-Type': 'text/html' });
        return res.end(`<!doctype html><title>Sign in</title><form method="post" action="/api/auth/login"><input type="hidden" name="return_to" value="${rt.replace(/"/g, '&quot;')}"><label>Username <input name="username" id="username"></label><label>Password <input type="password" name="password" id="password"></label><button type="submit">Sign in</button></form>`);
      }
      if (p === '/api/auth/login' && req.method === 'POST') {
        const f = new URLSearchParams(await readBody(req));
        const u = f.get('username');
        if (!(u in USERS) || f.get('password') !== 'test') { res.writeHead(401, { 'Content-Type': 'text/html' }); return res.end('Invalid credentials'); }
        let rt = f.get('return_to') || '/';
        if (!rt.startsWith('/') || rt.startsWith('//')) rt = '/';
        state.csrf.set(u, randomUUID());
        res.writeHead(303, { Location: rt, 'Set-Cookie': `stub_session=${u}; Path=/; HttpOnly; SameSite=Lax` });
        return res.end();
      }
      const user = userOf(req);
      if (!user) return problem(res, 401, 'unauthenticated', 'Authentication is required', 'sign in first');
      const roles = USERS[user];
      if (p === '/api/auth/me') return send(res, 200, { subject: user, username: user, email: `${user}@example.test`, name: user, roles, issuer: 'stub', expiresAt: iso(Date.now() + 8 * 3600_000), csrfToken: state.csrf.get(user) ?? (state.csrf.set(user, randomUUID()), state.csrf.get(user)) });
      if (p === '/api/auth/logout') { res.writeHead(204, { 'Set-Cookie': 'stub_session=; Path=/; Max-Age=0' }); return res.end(); }
      const rule = RULES.find(([m, re]) => m === req.method && re.test(p));
      if (!rule) return problem(res, 404, 'not-found', 'No such resource', `${req.method} ${p}`);
      if (!rule[2].some((r) => roles.includes(r))) return problem(res, 403, 'forbidden', 'The request is not allowed for this identity', `${req.method} ${p} needs one of the roles ${rule[2].join(', ')}`);
      if (req.method !== 'GET' && req.headers['x-csrf-token'] !== state.csrf.get(user)) return problem(res, 403, 'forbidden', 'The request is not allowed for this identity', 'missing or wrong CSRF token');
      const seg = p.split('/').slice(2); // workers, id, ...
      const body = req.method === 'GET' ? '' : await readBody(req);
      const json = () => { try { return body ? JSON.parse(body) : {}; } catch { return null; } };
      if (p === '/api/fleet/summary') {
        const ws = [...state.workers.values()];
        const byStatus = Object.fromEntries(['provisioning', 'pending', 'running', 'stopping', 'stopped', 'shutting-down', 'terminated', 'failed'].map((s) => [s, ws.filter((w) => w.status === s).length]));
        const auto = ws.reduce((a, w) => a + w.activity.autoPauseCount, 0);
        return send(res, 200, { at: iso(), total: ws.length, byStatus, runningCostPerHour: ws.reduce((a, w) => a + w.costPerHour, 0), savings: { today: { from: iso(), hours: auto * 1.5, dollars: auto * 1.5 * 3.964, autoPauses: auto }, thisMonth: { from: iso(), hours: auto * 20, dollars: auto * 20 * 3.964, autoPauses: auto * 9 } } });
      }
      if (p === '/api/settings') {
        if (req.method === 'PUT') { const patch = json(); Object.assign(state.settings, patch, { version: state.settings.version + 1, updatedAt: iso(), updatedBy: user }); }
        return send(res, 200, state.settings);
      }
      if (seg[0] !== 'workers') return problem(res, 404, 'not-found', 'No such resource', p);
      if (seg.length === 1 && req.method === 'GET') {
        const all = [...state.workers.values()];
        const off = Number(url.searchParams.get('cursor') || 0), lim = Number(url.searchParams.get('limit') || 100);
        return send(res, 200, { items: all.slice(off, off + lim), next: off + lim < all.length ? String(off + lim) : '' });
      }
      if (seg.length === 1 && req.method === 'POST') {
        const b = json();
        if (!b?.name) return problem(res, 400, 'invalid-request', 'The request is invalid', 'is required', 'name');
        const w = makeWorker(state.workers.size, { name: b.name, region: b.region, instanceType: b.instanceType || 'm5zn.metal', pricePerHour: PRICES[b.instanceType] ?? 3.964 });
        Object.assign(w, { status: 'provisioning', desiredPower: 'running', instanceId: '', publicIp: '', endpoint: '', metrics: null, costPerHour: 0, version: 1, createdBy: user, createdAt: iso(), tags: b.tags ?? {} });
        w.idle = { policy: b.idlePolicy ?? null, lastActivityAt: null, idleSince: null, warningIssuedAt: null, pauseAt: null };
        w.activity = { ...w.activity, autoPauseCount: 0, lastPausedAt: null, lastPausedBy: '', lastResumedAt: null, lastResumedBy: '' };
        w.cml = { ...w.cml, ready: false, version: '', serviceStatus: 'unavailable', licenseStatus: '' };
        w.ec2 = { ...w.ec2, state: '', runningSince: null };
        w.provisioning = { state: 'in-progress', step: '', startedAt: iso(), stepStartedAt: null, completedAt: null, error: '', failedStep: '' };
        state.workers.set(w.id, w); state.events.set(w.id, []);
        record(w, 'created', user, { name: w.name, region: w.region, instanceType: w.instanceType });
        provision(w);
        return send(res, 202, w);
      }
      if (seg[1] === 'import') {
        const b = json();
        const cands = [{ instanceId: b.instanceId || 'i-0feedfacecafe0001', name: b.name || 'imported-cml', state: 'running', instanceType: 'm5zn.metal', amiId: 'ami-0cml29', publicIp: '3.9.9.9', tags: {} }];
        if (b.preview) return send(res, 200, { preview: true, candidates: cands, imported: [], skipped: [] });
        const w = makeWorker(state.workers.size, { name: cands[0].name, instanceId: cands[0].instanceId, imported: true });
        state.workers.set(w.id, w); state.events.set(w.id, []); record(w, 'imported', user, {});
        return send(res, 202, { preview: false, candidates: cands, imported: [w], skipped: [] });
      }
      const w = state.workers.get(seg[1]);
      if (!w) return problem(res, 404, 'not-found', 'No such resource', `worker ${seg[1]} does not exist`);
      const act = seg[2];
      if (!act && req.method === 'GET') return send(res, 200, w);
      if (!act && req.method === 'DELETE') { Object.assign(w, { status: 'terminated', desiredPower: 'terminated', terminatedAt: iso(), terminatedBy: user, costPerHour: 0 }); record(w, 'terminated', user, {}); return send(res, 202, w); }
      if (act === 'events') return send(res, 200, { items: state.events.get(w.id).slice(0, 50), next: '' });
      if (act === 'metrics') {
        const from = Date.parse(url.searchParams.get('from')), to = Date.parse(url.searchParams.get('to'));
        const n = 60, samples = [];
        if (w.status === 'running') for (let i = 0; i < n; i++) { const t = from + ((to - from) * i) / (n - 1); samples.push({ workerId: w.id, at: iso(t), cpuPercent: 20 + 15 * Math.sin(i / 6), memoryPercent: 40 + i / 3, diskPercent: 12, runningNodes: i > 40 ? 3 : 0, labCount: 1 }); }
        return send(res, 200, { workerId: w.id, from: iso(from), to: iso(to), samples });
      }
      if (act === 'start') {
        if (w.status !== 'stopped') return problem(res, 409, 'already-in-state', 'The resource is already in the requested state', `start worker ${w.name}: it is already ${w.status}`);
        Object.assign(w, { status: 'pending', desiredPower: 'running' }); w.ec2.state = 'pending';
        Object.assign(w.activity, { lastResumedAt: iso(), lastResumedBy: user, lastResumeAuto: false });
        record(w, 'resumed', user, { fromStatus: 'stopped' });
        setTimeout(() => { Object.assign(w, { status: 'running', costPerHour: w.pricePerHour }); w.ec2.state = 'running'; w.cml.ready = true; w.idle.idleSince = iso(); record(w, 'ec2_observed', 'system:ec2', { state: 'running' }); scheduleAutoPause(w); }, stepMs * 2);
        return send(res, 202, w);
      }
      if (act === 'stop') {
        if (w.status !== 'running') return problem(res, 409, 'illegal-transition', "The resource's state does not allow this", `stop worker ${w.name}: status ${w.status} cannot be stopped`);
        Object.assign(w, { status: 'stopping', desiredPower: 'stopped' }); record(w, 'paused', user, { auto: false, fromStatus: 'running' });
        setTimeout(() => { Object.assign(w, { status: 'stopped', costPerHour: 0 }); w.ec2.state = 'stopped'; record(w, 'ec2_observed', 'system:ec2', { state: 'stopped' }); }, stepMs * 2);
        return send(res, 202, w);
      }
      if (act === 'refresh') return send(res, 202, w);
      if (act === 'keep-running') { w.idle.pauseAt = null; w.idle.warningIssuedAt = null; w.idle.idleSince = iso(); record(w, 'activity_recorded', user, { source: 'keep-running' }); return send(res, 200, w); }
      if (act === 'idle-policy') {
        const b = json();
        if (b && (!Number.isInteger(b.timeoutMinutes) || b.timeoutMinutes < 1)) return problem(res, 400, 'invalid-request', 'The request is invalid', 'must be at least 1', 'timeoutMinutes');
        w.idle.policy = b; record(w, 'idle_policy_changed', user, { policy: b }); scheduleAutoPause(w);
        return send(res, 200, w);
      }
      if (act === 'schedule') { w.schedule = json(); record(w, 'schedule_changed', user, { schedule: w.schedule }); return send(res, 200, w); }
      if (act === 'tags') { w.tags = { ...json().tags, 'cmlcm:worker-id': w.id }; record(w, 'tags_changed', user, { tags: w.tags }); return send(res, 200, w); }
      if (act === 'license') { w.cml.licenseOperation = req.method === 'POST' ? 'registering' : 'deregistering'; record(w, req.method === 'POST' ? 'license_registration_started' : 'license_deregistration_started', user, {}); setTimeout(() => { w.cml.licenseOperation = ''; w.cml.licenseStatus = req.method === 'POST' ? 'registered' : 'unregistered'; record(w, 'cml_observed', 'system:license', {}); }, stepMs * 3); return send(res, 202, w); }
      if (act === 'labs') {
        const labId = seg[3], lact = seg[4];
        if (!labId && req.method === 'GET') return send(res, 200, { items: [...state.labs.values()].filter((l) => l.workerId === w.id), next: '' });
        if (!labId && req.method === 'POST') {
          const title = /^\s*title:\s*(.+)$/m.exec(body)?.[1]?.trim().replace(/^["']|["']$/g, '') || 'Imported lab';
          const nodes = (body.match(/^\s*- (?:boot_disk_size|id: n\d+)/gm) || []).length || 2;
          const l = { id: randomUUID().slice(0, 6), labId: '', workerId: w.id, title, description: '', state: 'DEFINED_ON_CORE', owner: user, nodeCount: nodes, linkCount: 1, createdAt: iso(), modifiedAt: iso(), version: 1, topology: body };
          l.labId = l.id; state.labs.set(`${w.id}/${l.id}`, l); broadcast('lab.updated', l);
          return send(res, 201, l);
        }
        const l = state.labs.get(`${w.id}/${labId}`);
        if (!l) return problem(res, 404, 'not-found', 'No such resource', `lab ${labId} does not exist`);
        if (req.method === 'DELETE') { state.labs.delete(`${w.id}/${labId}`); res.writeHead(204); return res.end(); }
        if (lact === 'topology') { res.writeHead(200, { 'Content-Type': 'application/yaml' }); return res.end(l.topology ?? `lab:\n  title: ${l.title}\n`); }
        if (!lact) return send(res, 200, l);
        l.state = { start: 'QUEUED', stop: 'STOPPED', wipe: 'DEFINED_ON_CORE' }[lact]; l.version++; l.modifiedAt = iso();
        if (lact === 'start') setTimeout(() => { l.state = 'STARTED'; l.version++; broadcast('lab.updated', l); if (w.metrics) { w.metrics.runningNodes = l.nodeCount; w.metrics.labCount = 1; w.version++; broadcast('worker.updated', w); } }, stepMs);
        broadcast('lab.updated', l);
        return send(res, 202, l);
      }
      return problem(res, 404, 'not-found', 'No such resource', p);
    } catch (e) {
      if (!quiet) console.error(e);
      problem(res, 500, 'internal', 'Internal server error', String(e));
    }
  });

  const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png' };
  async function serveStatic(res, p) {
    const rel = normalize(p === '/' ? '/index.html' : p).replace(/^(\.\.[/\\])+/, '');
    try {
      const buf = await readFile(join(DIST, rel));
      res.writeHead(200, { 'Content-Type': TYPES[extname(rel)] ?? 'application/octet-stream' });
      res.end(buf);
    } catch {
      res.writeHead(404); res.end('not found');
    }
  }

  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, sock, head) => {
    if (!req.url.startsWith('/api/ws') || !userOf(req)) { sock.write('HTTP/1.1 401 Unauthorized\r\n\r\n'); sock.destroy(); return; }
    wss.handleUpgrade(req, sock, head, (ws) => { sockets.add(ws); ws.on('close', () => sockets.delete(ws)); });
  });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  const addr = server.address();
  return {
    url: `http://127.0.0.1:${addr.port}`, state, sockets,
    dropSockets: () => { for (const s of sockets) s.terminate(); },
    close: () => new Promise((ok) => { autoPauses.forEach(clearTimeout); for (const s of sockets) s.terminate(); wss.close(); server.closeAllConnections?.(); server.close(() => ok()); }),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const s = await startStub({ port: Number(process.env.PORT || 8090), workers: Number(process.env.WORKERS || 25), quiet: false });
  console.log(`stub API and dashboard at ${s.url} (users admin/manager/user/guest, password test)`);
}
