// Fleet overview: tiles (workers by status, running cost, savings) and the
// filterable, sortable worker table, updated live.
import { Api } from '../api';
import { $, html, on, raw, setHTML, type Raw } from '../dom';
import { actor, countdown, hours, money, perHour, relative } from '../format';
import { filterWorkers, idleInfo, lastAction, sortWorkers, type SortKey, type WorkerFilter } from '../logic';
import { can } from '../roles';
import { loadSummary, loadWorkers, mergeWorker, store } from '../store';
import { STATUSES, type Worker } from '../types';
import { alertBox, busy, spinner, statusBadge, toast, usageBar } from '../ui';
import { messageOf } from '../problem';

const COLS: { key: SortKey; label: string; cls?: string }[] = [
  { key: 'name', label: 'Name' }, { key: 'region', label: 'Region' }, { key: 'status', label: 'Status' },
  { key: 'cml', label: 'CML' }, { key: 'license', label: 'Licence' }, { key: 'cpu', label: 'CPU', cls: 'col-bar' },
  { key: 'memory', label: 'Memory', cls: 'col-bar' }, { key: 'disk', label: 'Disk', cls: 'col-bar' },
  { key: 'nodes', label: 'Nodes', cls: 'text-end' }, { key: 'labs', label: 'Labs', cls: 'text-end' },
  { key: 'idle', label: 'Idle' }, { key: 'last', label: 'Last action' },
];

const state = { filter: { text: '', region: '', status: '' } as WorkerFilter, sort: 'name' as SortKey, dir: 'asc' as 'asc' | 'desc' };

export function idleCell(w: Worker): Raw {
  const i = idleInfo(w, store.fleetPolicy);
  switch (i.kind) {
    case 'pausing':
      return html`<span class="text-danger fw-semibold" data-countdown="${i.pauseAt}" title="Auto-pause at ${new Date(i.pauseAt!).toLocaleTimeString()}">pauses in ${countdown(i.pauseAt)}</span>`;
    case 'idle':
      return i.pauseAt != null
        ? html`<span data-countdown="${i.pauseAt}" title="Idle since ${i.idleSince ? new Date(i.idleSince).toLocaleTimeString() : '?'}">${countdown(i.pauseAt)}</span>`
        : html`<span class="text-body-secondary">${i.idleSince ? `idle ${relative(new Date(i.idleSince).toISOString()).replace(' ago', '')}` : 'active'}</span>`;
    case 'off': return html`<span class="text-body-secondary">off</span>`;
    default: return html`<span class="text-body-secondary">—</span>`;
  }
}

function row(w: Worker): string {
  const m = w.metrics;
  const la = lastAction(w);
  const roles = store.me?.roles ?? [];
  const canStart = can(roles, 'startWorker') && w.status === 'stopped';
  const canStop = can(roles, 'stopWorker') && w.status === 'running';
  return html`<tr data-id="${w.id}" data-version="${w.version}" data-status="${w.status}">
    <th scope="row"><a href="#/workers/${encodeURIComponent(w.id)}" class="fw-semibold">${w.name}</a><div class="small text-body-secondary">${w.instanceType}${w.costPerHour ? ` · ${perHour(w.costPerHour)}` : ''}</div></th>
    <td>${w.region}</td>
    <td>${statusBadge(w.status)}${w.status === 'provisioning' && w.provisioning.step ? html`<div class="small text-body-secondary">${w.provisioning.step}</div>` : ''}</td>
    <td>${w.cml.ready ? html`<span class="text-success" aria-label="CML ready">●</span> ${w.cml.version || 'ready'}` : html`<span class="text-body-secondary">${w.cml.serviceStatus || 'not ready'}</span>`}</td>
    <td>${w.cml.licenseOperation ? html`<span class="text-info">${w.cml.licenseOperation}…</span>` : w.cml.licenseStatus || '—'}</td>
    <td class="col-bar">${usageBar(m?.cpuPercent, 'CPU')}</td>
    <td class="col-bar">${usageBar(m?.memoryPercent, 'Memory')}</td>
    <td class="col-bar">${usageBar(m?.diskPercent, 'Disk')}</td>
    <td class="text-end">${m?.runningNodes ?? '—'}</td>
    <td class="text-end">${m?.labCount ?? '—'}</td>
    <td class="idle-cell">${idleCell(w)}</td>
    <td class="small">${la.at ? html`${la.what} <span class="text-body-secondary">${relative(la.at)}</span><div class="text-body-secondary">${actor(la.by)}</div>` : '—'}</td>
    <td class="text-end text-nowrap">
      ${canStart ? html`<button class="btn btn-sm btn-outline-success" data-act="start" aria-label="Start ${w.name}">Start</button>` : ''}
      ${canStop ? html`<button class="btn btn-sm btn-outline-warning" data-act="stop" aria-label="Stop ${w.name}">Stop</button>` : ''}
    </td></tr>`.html;
}

function tile(label: string, value: Raw | string, sub: Raw | string = '', id = ''): Raw {
  return html`<div class="col-6 col-md-4 col-xl-2"><div class="card h-100 tile" ${id ? raw(`data-tile="${id}"`) : ''}><div class="card-body py-2">
    <div class="small text-body-secondary">${label}</div><div class="fs-4 fw-semibold">${value}</div><div class="small text-body-secondary">${sub}</div></div></div></div>`;
}

function tiles(): Raw {
  const ws = store.workers.values();
  const by: Record<string, number> = {};
  for (const w of ws) by[w.status] = (by[w.status] ?? 0) + 1;
  const cost = ws.reduce((a, w) => a + (w.costPerHour || 0), 0);
  const s = store.summary;
  const statusLine = ['running', 'pending', 'provisioning', 'stopping', 'stopped', 'failed'].filter((k) => by[k])
    .map((k) => `${by[k]} ${k}`).join(' · ') || 'none';
  return html`${tile('Workers', String(ws.length), statusLine, 'workers')}
    ${tile('Running', String(by.running ?? 0), `${(by.pending ?? 0) + (by.provisioning ?? 0)} starting`, 'running')}
    ${tile('Stopped', String(by.stopped ?? 0), by.failed ? `${by.failed} failed` : '', 'stopped')}
    ${tile('Running cost', html`${money(cost)}<span class="fs-6">/h</span>`, s ? `${money(cost * 24)} per day at this rate` : '', 'cost')}
    ${tile('Saved today', s ? money(s.savings.today.dollars) : '—', s ? `${hours(s.savings.today.hours)} · ${s.savings.today.autoPauses} auto-pauses` : '', 'saved-today')}
    ${tile('Saved this month', s ? money(s.savings.thisMonth.dollars) : '—', s ? `${hours(s.savings.thisMonth.hours)} · ${s.savings.thisMonth.autoPauses} auto-pauses` : '', 'saved-month')}`;
}

const FIRST_CHUNK = 40;
const marked = new Set<string>();
/** markOnce records a performance mark when the frame with the change is painted (the bench reads it). */
function markOnce(name: string): void {
  if (marked.has(name)) return;
  marked.add(name);
  requestAnimationFrame(() => setTimeout(() => performance.mark(name), 0));
}
const CHUNK = 120;
let renderToken = 0;

export function fleetPage(el: HTMLElement): () => void {
  const roles = store.me?.roles ?? [];
  setHTML(el, html`<div data-page="fleet">
    <div class="d-flex align-items-center gap-2 mb-3 flex-wrap">
      <h1 class="h3 mb-0 me-auto">Fleet</h1>
      ${can(roles, 'createWorker') ? html`<a class="btn btn-primary" href="#/workers/new">New worker</a>` : ''}
      ${can(roles, 'importWorkers') ? html`<a class="btn btn-outline-primary" href="#/workers/import">Import</a>` : ''}
      <button class="btn btn-outline-secondary" type="button" id="reload">Reload</button>
    </div>
    <section class="row g-2 mb-3" id="tiles" aria-label="Fleet summary">${tiles()}</section>
    <form class="row g-2 mb-2 align-items-end" id="filters" role="search" onsubmit="return false">
      <div class="col-12 col-md-5"><label class="form-label small mb-1" for="f-text">Search</label>
        <input class="form-control" id="f-text" type="search" placeholder="Name, instance id, IP or tag" value="${state.filter.text}"></div>
      <div class="col-6 col-md-3"><label class="form-label small mb-1" for="f-region">Region</label>
        <select class="form-select" id="f-region"></select></div>
      <div class="col-6 col-md-3"><label class="form-label small mb-1" for="f-status">Status</label>
        <select class="form-select" id="f-status"><option value="">All statuses</option>${STATUSES.map((s) => html`<option value="${s}" ${s === state.filter.status ? 'selected' : ''}>${s}</option>`)}</select></div>
      <div class="col-12 col-md-1 small text-body-secondary" id="count" aria-live="polite"></div>
    </form>
    <div id="table-msg"></div>
    <div class="table-responsive">
      <table class="table table-hover align-middle worker-table" id="workers">
        <caption class="visually-hidden">Workers; select a column header to sort</caption>
        <thead><tr>${COLS.map((c) => html`<th scope="col" class="${c.cls ?? ''}" data-col="${c.key}" aria-sort="${state.sort === c.key ? (state.dir === 'asc' ? 'ascending' : 'descending') : 'none'}"><button type="button" class="btn btn-link btn-sm p-0 sort-btn" data-sort="${c.key}">${c.label}<span aria-hidden="true" class="sort-ind"></span></button></th>`)}<th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody></tbody>
      </table>
    </div></div>`);
  const tbody = el.querySelector('tbody')!;
  const msg = $('#table-msg', el)!;

  const renderRegions = () => {
    const sel = $('#f-region', el) as HTMLSelectElement;
    const regions = [...new Set(store.workers.values().map((w) => w.region))].sort();
    if (state.filter.region && !regions.includes(state.filter.region)) regions.push(state.filter.region);
    const want = html`<option value="">All regions</option>${regions.map((r) => html`<option value="${r}" ${r === state.filter.region ? 'selected' : ''}>${r}</option>`)}`.html;
    if (sel.dataset.sig !== regions.join(',')) { sel.innerHTML = want; sel.dataset.sig = regions.join(','); }
  };

  let dirty = false;
  const renderTable = () => {
    dirty = false;
    const all = store.workers.values();
    const list = sortWorkers(filterWorkers(all, state.filter), state.sort, state.dir, store.fleetPolicy);
    // The first screenful renders at once, the rest in chunks on later
    // tasks, so a 500-worker fleet paints fast and stays responsive.
    const token = ++renderToken;
    tbody.innerHTML = list.length
      ? list.slice(0, FIRST_CHUNK).map(row).join('')
      : `<tr><td colspan="${COLS.length + 1}" class="text-center text-body-secondary py-4">${store.workersLoaded ? (all.length ? 'No worker matches the filters.' : 'No workers yet.') : 'Loading…'}</td></tr>`;
    tbody.dataset.complete = String(list.length <= FIRST_CHUNK);
    if (list.length) markOnce('cmlcm:fleet-first-render');
    const more = (from: number) => {
      if (token !== renderToken) return;
      if (from >= list.length) { tbody.dataset.complete = 'true'; markOnce('cmlcm:fleet-complete'); return; }
      tbody.insertAdjacentHTML('beforeend', list.slice(from, from + CHUNK).map(row).join(''));
      window.setTimeout(() => more(from + CHUNK), 0);
    };
    if (list.length > FIRST_CHUNK) window.setTimeout(() => more(FIRST_CHUNK), 0);
    $('#count', el)!.textContent = `${list.length} of ${all.length}`;
    el.querySelectorAll('th[data-col]').forEach((th) => {
      const k = (th as HTMLElement).dataset.col;
      th.setAttribute('aria-sort', k === state.sort ? (state.dir === 'asc' ? 'ascending' : 'descending') : 'none');
      th.querySelector('.sort-ind')!.textContent = k === state.sort ? (state.dir === 'asc' ? ' ▲' : ' ▼') : '';
    });
  };

  let pending = false;
  let changedIds = new Set<string>();
  const schedule = (ids?: Set<string>) => {
    ids?.forEach((i) => changedIds.add(i));
    dirty = true;
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      const ids = changedIds; changedIds = new Set();
      if (!dirty) return;
      // a single known row that keeps its place is patched in place; otherwise re-render
      const sortAffects = state.sort !== 'name' || state.filter.text || state.filter.status || state.filter.region;
      if (ids.size === 1 && !sortAffects) {
        const id = [...ids][0];
        const w = store.workers.get(id);
        const tr = tbody.querySelector(`tr[data-id="${CSS.escape(id)}"]`);
        if (w && tr) {
          const t = document.createElement('tbody');
          t.innerHTML = row(w);
          tr.replaceWith(t.firstElementChild!);
          dirty = false;
          setHTML($('#tiles', el), tiles());
          return;
        }
      }
      renderRegions();
      renderTable();
      setHTML($('#tiles', el), tiles());
    });
  };

  const offs = [
    store.workersChanged.on((ids) => schedule(ids)),
    store.summaryChanged.on(() => setHTML($('#tiles', el), tiles())),
    on(el, 'input', '#f-text', (_e, t) => { state.filter.text = (t as HTMLInputElement).value; schedule(); }),
    on(el, 'change', '#f-region', (_e, t) => { state.filter.region = (t as HTMLSelectElement).value; schedule(); }),
    on(el, 'change', '#f-status', (_e, t) => { state.filter.status = (t as HTMLSelectElement).value; schedule(); }),
    on(el, 'click', '[data-sort]', (_e, t) => {
      const k = t.dataset.sort as SortKey;
      if (state.sort === k) state.dir = state.dir === 'asc' ? 'desc' : 'asc';
      else { state.sort = k; state.dir = 'asc'; }
      schedule();
    }),
    on(el, 'click', '#reload', (_e, t) => void busy(t, async () => { await Promise.all([loadWorkers(), loadSummary()]); toast('Fleet reloaded.', 'success'); }, 'Reload')),
    on(el, 'click', '[data-act]', (_e, t) => {
      const id = t.closest('tr')!.getAttribute('data-id')!;
      const w = store.workers.get(id);
      const act = t.dataset.act!;
      void busy(t, async () => {
        const res = act === 'start' ? await Api.start(id) : await Api.stop(id, 'stopped from the fleet page');
        mergeWorker(res);
        toast(`${act === 'start' ? 'Starting' : 'Stopping'} ${w?.name ?? id}.`, 'success');
      }, `${act === 'start' ? 'Start' : 'Stop'} ${w?.name ?? id}`);
    }),
  ];

  // Countdowns tick every second without re-rendering rows.
  const timer = window.setInterval(() => {
    const now = Date.now();
    el.querySelectorAll<HTMLElement>('[data-countdown]').forEach((c) => {
      const t = Number(c.dataset.countdown);
      const text = countdown(t, now);
      c.textContent = c.classList.contains('text-danger') ? `pauses in ${text}` : text;
    });
  }, 1000);

  renderRegions();
  renderTable();
  const t0 = performance.now();
  Promise.all([loadWorkers(), loadSummary()])
    .then(() => {
      renderRegions(); renderTable(); setHTML($('#tiles', el), tiles());
      el.querySelector('[data-page="fleet"]')?.setAttribute('data-loaded', String(Math.round(performance.now() - t0)));
    })
    .catch((e) => setHTML(msg, alertBox('danger', `The fleet could not be loaded. ${messageOf(e)}`)));
  if (!store.workersLoaded) setHTML(msg, spinner('Loading workers'));
  const clearMsg = store.workersChanged.on(() => { if (store.workersLoaded && msg.querySelector('.spinner-border')) msg.innerHTML = ''; });

  return () => { offs.forEach((f) => f()); clearMsg(); clearInterval(timer); };
}
