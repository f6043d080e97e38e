// Worker page: status and provisioning progress, EC2 and CML facts,
// licence, metrics charts, idle policy and wake-up schedule, tags, labs,
// audit history. Updated live.
import { Api } from '../api';
import { $, esc, html, on, raw, setHTML, type Raw } from '../dom';
import { actor, countdown, dateTime, duration, eventLabel, perHour, relative } from '../format';
import { consoleUrl, idleInfo, parseTags, provisioningTimeline } from '../logic';
import { messageOf } from '../problem';
import { can } from '../roles';
import { mergeLab, mergeWorker, store } from '../store';
import type { IdlePolicy, Schedule, Worker, WorkerEvent } from '../types';
import { alertBox, busy, confirmDialog, spinner, statusBadge, toast, usageBar } from '../ui';
import { idleCell } from './fleet';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

function dl(rows: [string, Raw | string | number | null | undefined][]): Raw {
  return html`<dl class="row mb-0 small facts">${rows.map(([k, v]) => html`<dt class="col-5 text-body-secondary fw-normal">${k}</dt><dd class="col-7 mb-1">${v === '' || v == null ? '—' : v}</dd>`)}</dl>`;
}

function card(id: string, title: string, body: Raw, extra: Raw | string = ''): Raw {
  return html`<section class="card mb-3" id="${id}" aria-labelledby="${id}-h"><div class="card-header d-flex align-items-center gap-2"><h2 class="h6 mb-0 me-auto" id="${id}-h">${title}</h2>${extra}</div><div class="card-body">${body}</div></section>`;
}

export function workerPage(el: HTMLElement, params: Record<string, string>): () => void {
  const id = params.id;
  const roles = store.me?.roles ?? [];
  let events: WorkerEvent[] = [];
  let eventsNext = '';
  let range = 3600_000;
  let charts: { destroy(): void } | null = null;
  let labsStatus: string | undefined;
  const offs: (() => void)[] = [];

  setHTML(el, html`<div data-page="worker" data-worker-id="${id}">
    <nav aria-label="breadcrumb"><ol class="breadcrumb mb-2"><li class="breadcrumb-item"><a href="#/">Fleet</a></li><li class="breadcrumb-item active" aria-current="page" id="crumb">${id}</li></ol></nav>
    <div id="head">${spinner('Loading worker')}</div>
    <div class="row g-3">
      <div class="col-12 col-xl-4">
        <div id="status-card"></div><div id="ec2-card"></div><div id="cml-card"></div>
      </div>
      <div class="col-12 col-xl-8">
        <div id="metrics-card"></div>
        <div class="row g-3"><div class="col-12 col-lg-6"><div id="idle-card"></div></div><div class="col-12 col-lg-6"><div id="schedule-card"></div><div id="tags-card"></div></div></div>
        <div id="labs-card"></div>
        <div id="history-card"></div>
      </div>
    </div></div>`);

  const w = () => store.workers.get(id);

  const renderHead = () => {
    const x = w();
    if (!x) return;
    $('#crumb', el)!.textContent = x.name;
    const canStart = can(roles, 'startWorker') && x.status === 'stopped';
    const canStop = can(roles, 'stopWorker') && (x.status === 'running' || x.status === 'pending');
    setHTML($('#head', el), html`<div class="d-flex align-items-center gap-2 flex-wrap mb-3">
      <h1 class="h3 mb-0">${x.name}</h1> <span id="head-status">${statusBadge(x.status)}</span>
      <span class="text-body-secondary small me-auto">${x.instanceType} · ${x.region}${x.pricePerHour ? ` · ${perHour(x.pricePerHour)}` : ''}</span>
      ${canStart ? html`<button class="btn btn-success" data-act="start">Start</button>` : ''}
      ${canStop ? html`<button class="btn btn-warning" data-act="stop">Stop</button>` : ''}
      ${can(roles, 'refreshWorker') ? html`<button class="btn btn-outline-secondary" data-act="refresh">Refresh</button>` : ''}
      ${can(roles, 'deleteWorker') && x.status !== 'terminated' ? html`<button class="btn btn-outline-danger" data-act="delete">Delete…</button>` : ''}
    </div>`);
  };

  const renderStatus = () => {
    const x = w();
    if (!x) return;
    const p = x.provisioning;
    let prov: Raw = raw('');
    if (p.state) {
      const rows = provisioningTimeline(x, events);
      prov = html`<h3 class="h6 mt-3">Provisioning <span class="badge text-bg-light border">${p.state}</span></h3>
        <ol class="list-unstyled steps mb-0" aria-label="Provisioning steps">${rows.map((r) => html`<li class="step step-${r.state}" data-step="${r.id}" data-state="${r.state}">
          <span class="step-icon" aria-hidden="true">${({ done: '✔', current: '◐', failed: '✖', pending: '○', skipped: '–' } as Record<string, string>)[r.state]}</span>
          <span class="step-label">${r.label}</span>
          <span class="step-time text-body-secondary" ${r.state === 'current' && r.startedAt ? raw(`data-since="${r.startedAt}"`) : ''}>${r.elapsedMs != null ? duration(r.elapsedMs) : ''}</span>
          <span class="visually-hidden">${r.state}</span></li>`)}</ol>
        ${p.error ? alertBox('danger', `Failed at ${p.failedStep || p.step}: ${p.error}`) : ''}
        ${p.startedAt ? html`<div class="small text-body-secondary mt-1">Started ${relative(p.startedAt)}${p.completedAt ? `, finished in ${duration(Date.parse(p.completedAt) - Date.parse(p.startedAt))}` : ''}</div>` : ''}`;
    }
    const a = x.activity;
    setHTML($('#status-card', el), card('status', 'Status', html`${dl([
      ['Status', statusBadge(x.status)], ['Desired power', x.desiredPower], ['Created', html`${dateTime(x.createdAt)} <span class="text-body-secondary">by ${actor(x.createdBy)}</span>`],
      ['Last pause', a.lastPausedAt ? html`${relative(a.lastPausedAt)} by ${actor(a.lastPausedBy)}${a.lastPauseAuto ? html` <span class="badge text-bg-info text-dark">auto, idle ${a.lastPauseIdleMinutes} min</span>` : ''}${a.lastPauseReason ? html`<div class="text-body-secondary">${a.lastPauseReason}</div>` : ''}` : ''],
      ['Last start', a.lastResumedAt ? html`${relative(a.lastResumedAt)} by ${actor(a.lastResumedBy)}` : ''],
      ['Pauses', `${a.autoPauseCount} auto · ${a.manualPauseCount} manual`],
      ['Version', String(x.version)],
    ])}${x.metrics ? html`<h3 class="h6 mt-3">Now <span class="small text-body-secondary fw-normal">${relative(x.metrics.at)}</span></h3>${dl([
      ['CPU', usageBar(x.metrics.cpuPercent, 'CPU')], ['Memory', usageBar(x.metrics.memoryPercent, 'Memory')], ['Disk', usageBar(x.metrics.diskPercent, 'Disk')],
      ['Running nodes', x.metrics.runningNodes ?? ''], ['Labs', x.metrics.labCount ?? ''], ['Cost now', x.costPerHour ? perHour(x.costPerHour) : '$0/h (not running)'],
    ])}` : ''}${prov}`));
  };

  const renderEC2 = () => {
    const x = w();
    if (!x) return;
    setHTML($('#ec2-card', el), card('ec2', 'EC2', dl([
      ['Instance', x.instanceId ? html`<a href="${consoleUrl(x.region, 'instance', x.instanceId)}" target="_blank" rel="noopener">${x.instanceId} ↗</a>` : ''],
      ['State', x.ec2.state], ['Type', x.instanceType], ['Price', x.pricePerHour ? perHour(x.pricePerHour) : ''],
      ['AMI', x.amiId ? html`<a href="${consoleUrl(x.region, 'ami', x.amiId)}" target="_blank" rel="noopener">${x.amiId} ↗</a>${x.amiName ? html`<div class="text-body-secondary">${x.amiName}</div>` : ''}` : x.amiName],
      ['Public IP', x.publicIp], ['Private IP', x.privateIp],
      ['Endpoint', x.endpoint ? html`<a href="${x.endpoint}" target="_blank" rel="noopener">${x.endpoint}</a>` : ''],
      ['Status checks', x.ec2.systemStatus || x.ec2.instanceStatus ? `system ${x.ec2.systemStatus || '?'} · instance ${x.ec2.instanceStatus || '?'}` : ''],
      ['Running since', x.ec2.runningSince ? relative(x.ec2.runningSince) : ''],
      ['Observed', x.ec2.observedAt ? relative(x.ec2.observedAt) : ''],
    ])));
  };

  const renderCML = () => {
    const x = w();
    if (!x) return;
    const c = x.cml;
    const manage = can(roles, 'registerLicense') && x.status === 'running' && !c.licenseOperation;
    setHTML($('#cml-card', el), card('cml', 'CML', html`${dl([
      ['Ready', c.ready ? html`<span class="text-success">yes</span>` : 'no'], ['Version', c.version], ['Service', c.serviceStatus],
      ['Licence', html`${c.licenseStatus || '—'}${c.licenseOperation ? html` <span class="badge text-bg-info text-dark">${c.licenseOperation}…</span>` : ''}`],
      ['Licence token', c.licenseTokenConfigured ? 'configured' : 'not configured'],
      ['Observed', c.observedAt ? relative(c.observedAt) : ''],
    ])}${c.licenseError ? alertBox('warning', `Licence: ${c.licenseError}`) : ''}
      ${manage ? html`<div class="d-flex gap-2 mt-2">
        <button class="btn btn-sm btn-outline-primary" data-act="license-register">Register licence…</button>
        ${c.licenseStatus && c.licenseStatus !== 'unregistered' ? html`<button class="btn btn-sm btn-outline-danger" data-act="license-deregister">Deregister…</button>` : ''}</div>` : ''}`));
  };

  const renderMetricsFrame = () => {
    setHTML($('#metrics-card', el), card('metrics', 'Metrics', html`<div class="row g-2" id="charts" aria-live="polite">${spinner('Loading metrics')}</div>`,
      html`<div class="btn-group btn-group-sm" role="group" aria-label="Time range">${([['1 h', 3600_000], ['24 h', 86400_000], ['7 d', 7 * 86400_000]] as [string, number][]).map(([l, ms]) =>
        html`<button type="button" class="btn btn-outline-secondary ${ms === range ? 'active' : ''}" aria-pressed="${ms === range}" data-range="${ms}">${l}</button>`)}</div>`));
  };

  const loadMetrics = async () => {
    const box = $('#charts', el);
    if (!box) return;
    try {
      const to = new Date();
      const res = await Api.metrics(id, new Date(to.getTime() - range), to);
      const { drawCharts } = await import('../charts');
      charts?.destroy();
      charts = drawCharts(box, res.samples, range);
    } catch (e) {
      setHTML(box, alertBox('danger', `Metrics could not be loaded. ${messageOf(e)}`));
    }
  };

  const renderIdle = (force = false) => {
    const x = w();
    const box = $('#idle-card', el);
    if (!x || !box) return;
    const form = box.querySelector('form');
    if (form && !force && (form.contains(document.activeElement) || form.dataset.dirty)) {
      const c = box.querySelector('#idle-now');
      if (c) setHTML(c, idleNow(x));
      return;
    }
    const pol: IdlePolicy = x.idle.policy ?? store.fleetPolicy ?? { enabled: true, timeoutMinutes: 60, warningMinutes: 10, snoozeMinutes: 60 };
    const follows = !x.idle.policy;
    const edit = can(roles, 'setIdlePolicy');
    setHTML(box, card('idle', 'Idle policy', html`<div id="idle-now">${idleNow(x)}</div>
      ${edit ? html`<form id="idle-form" class="mt-3" novalidate>
        <div class="form-check form-switch mb-2"><input class="form-check-input" type="checkbox" role="switch" id="ip-follow" name="follow" ${follows ? 'checked' : ''}><label class="form-check-label" for="ip-follow">Follow the fleet policy</label></div>
        <fieldset id="ip-fields" ${follows ? 'disabled' : ''}><legend class="visually-hidden">This worker's policy</legend>
        <div class="form-check form-switch mb-2"><input class="form-check-input" type="checkbox" role="switch" id="ip-enabled" name="enabled" ${pol.enabled ? 'checked' : ''}><label class="form-check-label" for="ip-enabled">Auto-pause when idle</label></div>
        <div class="row g-2">
          <div class="col-6"><label class="form-label small" for="ip-timeout">Idle timeout (min)</label><input class="form-control form-control-sm" type="number" min="1" max="10080" required id="ip-timeout" name="timeoutMinutes" value="${pol.timeoutMinutes}"></div>
          <div class="col-6"><label class="form-label small" for="ip-warning">Warn before (min)</label><input class="form-control form-control-sm" type="number" min="0" id="ip-warning" name="warningMinutes" value="${pol.warningMinutes}"></div>
          <div class="col-6"><label class="form-label small" for="ip-snooze">Snooze after start (min)</label><input class="form-control form-control-sm" type="number" min="0" id="ip-snooze" name="snoozeMinutes" value="${pol.snoozeMinutes}"></div>
          <div class="col-6"><label class="form-label small" for="ip-cpu">CPU activity above (%)</label><input class="form-control form-control-sm" type="number" min="0" max="100" id="ip-cpu" name="cpuThresholdPercent" placeholder="off" value="${pol.cpuThresholdPercent ?? ''}"></div>
        </div></fieldset>
        <div class="invalid-feedback d-block" id="ip-error" role="alert"></div>
        <button class="btn btn-sm btn-primary mt-2" type="submit" id="ip-save">Save idle policy</button></form>`
        : html`<div class="small mt-2">${follows ? 'Follows the fleet policy' : 'Own policy'}: ${pol.enabled ? `pause after ${pol.timeoutMinutes} min idle, warn ${pol.warningMinutes} min before` : 'auto-pause off'}.</div>`}`));
  };

  const idleNow = (x: Worker): Raw => {
    const i = idleInfo(x, store.fleetPolicy);
    const keep = x.status === 'running' && (i.kind === 'pausing' || i.kind === 'idle');
    return html`<div class="d-flex align-items-center gap-3 flex-wrap">
      <div><div class="small text-body-secondary">Idle countdown</div><div class="fs-4 idle-cell" id="idle-countdown">${idleCell(x)}</div></div>
      <div class="small"><div>Last activity: ${x.idle.lastActivityAt ? relative(x.idle.lastActivityAt) : '—'}</div>${x.idle.warningIssuedAt ? html`<div class="text-danger">Idle warning issued ${relative(x.idle.warningIssuedAt)}</div>` : ''}</div>
      ${keep ? html`<button class="btn btn-outline-success ms-auto" data-act="keep">Keep running</button>` : ''}</div>`;
  };

  const renderSchedule = (force = false) => {
    const x = w();
    const box = $('#schedule-card', el);
    if (!x || !box) return;
    if (!force && box.querySelector('form')?.dataset.dirty) return;
    const s: Schedule = x.schedule ?? { timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC', wakeups: [] };
    const edit = can(roles, 'setSchedule');
    const wakeRow = (d: string[], at: string, i: number) => html`<div class="wakeup border rounded p-2 mb-2" data-i="${i}">
      <fieldset ${edit ? '' : 'disabled'}><legend class="small mb-1">Wake-up ${i + 1}</legend><div class="d-flex flex-wrap gap-2 align-items-center">
      ${DAYS.map((day) => html`<div class="form-check form-check-inline m-0"><input class="form-check-input" type="checkbox" id="wk-${i}-${day}" name="day" value="${day}" ${d.includes(day) ? 'checked' : ''}><label class="form-check-label small" for="wk-${i}-${day}">${day}</label></div>`)}
      <label class="visually-hidden" for="wk-${i}-at">Time</label><input class="form-control form-control-sm w-auto" type="time" id="wk-${i}-at" name="at" value="${at}" required>
      ${edit ? html`<button type="button" class="btn btn-sm btn-link text-danger" data-rm="${i}" aria-label="Remove wake-up ${i + 1}">Remove</button>` : ''}</div></fieldset></div>`;
    setHTML(box, card('schedule', 'Wake-up schedule', html`<form id="sched-form" novalidate>
      <div class="mb-2"><label class="form-label small" for="sc-tz">Time zone</label><input class="form-control form-control-sm" id="sc-tz" name="timezone" value="${s.timezone}" ${edit ? '' : 'disabled'} placeholder="Europe/Paris"></div>
      <div id="wakeups">${s.wakeups.length ? s.wakeups.map((wk, i) => wakeRow(wk.days, wk.at, i)) : html`<p class="small text-body-secondary">No scheduled wake-ups.</p>`}</div>
      ${edit ? html`<div class="d-flex gap-2"><button class="btn btn-sm btn-outline-secondary" type="button" data-add>Add wake-up</button>
        <button class="btn btn-sm btn-primary" type="submit">Save schedule</button>
        ${x.schedule ? html`<button class="btn btn-sm btn-outline-danger" type="button" data-clear>Clear</button>` : ''}</div>` : ''}
      </form>`));
    const form = box.querySelector('form')!;
    (form as HTMLFormElement & { _wake?: typeof wakeRow })._wake = wakeRow;
  };

  const renderTags = (force = false) => {
    const x = w();
    const box = $('#tags-card', el);
    if (!x || !box) return;
    if (!force && box.querySelector('textarea') === document.activeElement) return;
    const entries = Object.entries(x.tags ?? {}).sort(([a], [b]) => a.localeCompare(b));
    const user = entries.filter(([k]) => !k.toLowerCase().startsWith('cmlcm:'));
    const edit = can(roles, 'setTags');
    setHTML(box, card('tags', 'Tags', html`${entries.length ? html`<ul class="list-unstyled d-flex flex-wrap gap-1 mb-2">${entries.map(([k, v]) => html`<li><span class="badge ${k.startsWith('cmlcm:') ? 'text-bg-secondary' : 'text-bg-light border'}">${k}=${v}</span></li>`)}</ul>` : html`<p class="small text-body-secondary">No tags.</p>`}
      ${edit ? html`<form id="tags-form"><label class="form-label small" for="tags-text">User tags, one <code>key=value</code> per line (managed <code>cmlcm:*</code> tags cannot be changed)</label>
        <textarea class="form-control form-control-sm font-monospace" id="tags-text" rows="3">${user.map(([k, v]) => `${k}=${v}`).join('\n')}</textarea>
        <div class="invalid-feedback d-block" id="tags-error" role="alert"></div>
        <button class="btn btn-sm btn-primary mt-2" type="submit">Save tags</button></form>` : ''}`));
  };

  const renderLabs = () => {
    const box = $('#labs-card', el);
    const x = w();
    if (!box || !x) return;
    const labs = store.labs.values().filter((l) => l.workerId === id).sort((a, b) => a.title.localeCompare(b.title));
    const imp = can(roles, 'importLab');
    const running = x.status === 'running';
    const stateCls = (s: string) => ({ STARTED: 'success', BOOTED: 'success', STOPPED: 'secondary', DEFINED_ON_CORE: 'light border', QUEUED: 'info' } as Record<string, string>)[s.toUpperCase()] ?? 'light border';
    setHTML(box, card('labs', `Labs (${labs.length})`, html`
      ${!running ? html`<p class="small text-body-secondary">Lab actions need the worker running.</p>` : ''}
      <div class="table-responsive"><table class="table table-sm align-middle mb-2" id="labs-table"><thead><tr><th scope="col">Title</th><th scope="col">State</th><th scope="col">Owner</th><th scope="col" class="text-end">Nodes</th><th scope="col" class="text-end">Links</th><th scope="col">Modified</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${labs.length ? labs.map((l) => {
        const st = l.state.toUpperCase();
        const started = st === 'STARTED' || st === 'BOOTED';
        return html`<tr data-lab="${l.labId}" data-state="${l.state}"><th scope="row">${l.title || l.labId}</th><td><span class="badge text-bg-${stateCls(l.state)}">${l.state}</span></td><td>${l.owner}</td><td class="text-end">${l.nodeCount}</td><td class="text-end">${l.linkCount}</td><td class="small">${l.modifiedAt ? relative(l.modifiedAt) : '—'}</td>
        <td class="text-end text-nowrap">
          ${running && can(roles, 'startLab') && !started ? html`<button class="btn btn-sm btn-outline-success" data-lab-act="start" aria-label="Start lab ${l.title}">Start</button>` : ''}
          ${running && can(roles, 'stopLab') && started ? html`<button class="btn btn-sm btn-outline-warning" data-lab-act="stop" aria-label="Stop lab ${l.title}">Stop</button>` : ''}
          ${running && can(roles, 'wipeLab') && !started ? html`<button class="btn btn-sm btn-outline-danger" data-lab-act="wipe" aria-label="Wipe lab ${l.title}">Wipe</button>` : ''}
          ${running && can(roles, 'labTopology') ? html`<button class="btn btn-sm btn-outline-secondary" data-lab-act="yaml" aria-label="Download YAML of lab ${l.title}">YAML</button>` : ''}
          ${running && can(roles, 'deleteLab') ? html`<button class="btn btn-sm btn-outline-danger" data-lab-act="delete" aria-label="Delete lab ${l.title}">Delete</button>` : ''}
        </td></tr>`;
      }) : html`<tr><td colspan="7" class="text-body-secondary">No labs.</td></tr>`}</tbody></table></div>
      ${imp && running ? html`<div class="dropzone rounded p-3 text-center" id="dropzone" tabindex="0" role="button" aria-describedby="dz-help">
        <div id="dz-help">Drop a topology <code>.yaml</code> here, or <label class="btn btn-sm btn-outline-primary mb-0" for="lab-file">choose a file</label> to import it.</div>
        <input type="file" id="lab-file" class="visually-hidden" accept=".yaml,.yml,application/yaml,text/yaml"></div>` : ''}`));
  };

  const renderHistory = () => {
    const box = $('#history-card', el);
    if (!box) return;
    setHTML(box, card('history', 'History', html`<div class="table-responsive"><table class="table table-sm mb-2" id="history-table"><thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">Who</th><th scope="col">Details</th></tr></thead>
      <tbody>${events.length ? events.map((e) => html`<tr data-type="${e.type}"><td class="text-nowrap small" title="${dateTime(e.time)}">${relative(e.time)}</td><td>${eventLabel(e.type)}</td><td>${actor(e.actor)}</td><td class="small text-body-secondary text-break">${eventDetails(e)}</td></tr>`) : html`<tr><td colspan="4" class="text-body-secondary">No history yet.</td></tr>`}</tbody></table></div>
      ${eventsNext ? html`<button class="btn btn-sm btn-outline-secondary" data-more>Load older</button>` : ''}`));
  };

  const renderAll = () => {
    if (!w()) return;
    renderHead(); renderStatus(); renderEC2(); renderCML(); renderIdle(); renderSchedule(); renderTags(); renderLabs();
  };

  // Load.
  (async () => {
    try {
      mergeWorker(await Api.worker(id));
    } catch (e) {
      setHTML($('#head', el), alertBox('danger', `The worker could not be loaded. ${messageOf(e)}`));
      return;
    }
    renderAll();
    renderMetricsFrame();
    renderHistory();
    void loadMetrics();
    Api.events(id).then((p) => { events = p.items ?? []; eventsNext = p.next; renderHistory(); renderStatus(); })
      .catch((e) => setHTML($('#history-card', el), alertBox('danger', `History could not be loaded. ${messageOf(e)}`)));
    Api.labs(id).then((labs) => { labs.forEach((l) => mergeLab({ ...l, workerId: l.workerId || id })); renderLabs(); })
      .catch((e) => setHTML($('#labs-card', el), alertBox('danger', `Labs could not be loaded. ${messageOf(e)}`)));
  })();

  // Live.
  offs.push(store.workersChanged.on((ids) => {
    if (!ids.has(id) && ids.size > 0) return;
    renderHead(); renderStatus(); renderEC2(); renderCML(); renderIdle(); renderSchedule(); renderTags();
    const st = w()?.status;
    if (!$('#labs-table', el) || st !== labsStatus) { labsStatus = st; renderLabs(); }
  }));
  let labsTimer: number | undefined;
  offs.push(store.labChanged.on((l) => { if (l.workerId === id) { clearTimeout(labsTimer); labsTimer = window.setTimeout(renderLabs, 50); } }));
  offs.push(store.workerEvent.on((e) => {
    if (e.aggregateId !== id || events.some((x) => x.id === e.id)) return;
    events = [e, ...events].sort((a, b) => b.version - a.version);
    renderHistory();
    if (e.type.includes('provisioning')) renderStatus();
  }));

  // Actions.
  offs.push(on(el, 'click', '[data-range]', (_e, b) => { range = Number(b.dataset.range); renderMetricsFrame(); void loadMetrics(); }));
  offs.push(on(el, 'click', '[data-more]', (_e, b) => void busy(b, async () => {
    const p = await Api.events(id, eventsNext);
    events = [...events, ...(p.items ?? [])]; eventsNext = p.next; renderHistory();
  }, 'Load history')));
  offs.push(on(el, 'click', '[data-act]', (_e, b) => void act(b)));
  offs.push(on(el, 'click', '[data-lab-act]', (_e, b) => void labAct(b)));

  const act = async (b: HTMLElement) => {
    const x = w();
    if (!x) return;
    switch (b.dataset.act) {
      case 'start':
        await busy(b, async () => { mergeWorker(await Api.start(id)); toast(`Starting ${x.name}.`, 'success'); }, `Start ${x.name}`);
        break;
      case 'stop': {
        const f = await confirmDialog({ title: `Stop ${x.name}?`, body: html`<p>The EC2 instance <strong>${x.instanceId || '(none yet)'}</strong> stops; running labs on it stop with it. It can be started again.</p>`,
          confirmLabel: 'Stop worker', danger: true, extra: html`<label class="form-label small" for="dlg-reason">Reason (optional)</label><input class="form-control" id="dlg-reason" name="reason" maxlength="200">` });
        if (f) await busy(b, async () => { mergeWorker(await Api.stop(id, String(f.get('reason') ?? ''))); toast(`Stopping ${x.name}.`, 'success'); }, `Stop ${x.name}`);
        break;
      }
      case 'refresh':
        await busy(b, async () => { mergeWorker(await Api.refresh(id)); toast('Refresh requested.', 'success'); }, 'Refresh');
        break;
      case 'keep':
        await busy(b, async () => { const r = await Api.keepRunning(id); if (r) mergeWorker(r); toast(`${x.name} will keep running.`, 'success'); }, 'Keep running');
        break;
      case 'delete': {
        const f = await confirmDialog({
          title: `Delete worker ${x.name}?`, danger: true, confirmLabel: 'Delete worker', typeToConfirm: x.name,
          body: html`<p>This removes <strong>${x.name}</strong> from the fleet.</p><p class="mb-0">With the box below ticked, its EC2 instance <strong>${x.instanceId || '(none)'}</strong> is <strong>terminated</strong>: the instance and its disk, including every lab on it, are destroyed.</p>`,
          extra: html`<div class="form-check mb-2"><input class="form-check-input" type="checkbox" id="dlg-term" name="terminate" checked><label class="form-check-label" for="dlg-term">Also terminate the EC2 instance</label></div>`,
        });
        if (!f) return;
        const terminate = f.get('terminate') === 'on';
        await busy(b, async () => {
          const r = await Api.remove(id, terminate);
          if (r) mergeWorker(r);
          toast(terminate ? `Terminating ${x.name}.` : `${x.name} removed from the fleet.`, 'success');
          if (!terminate) location.hash = '#/';
        }, `Delete ${x.name}`);
        break;
      }
      case 'license-register': {
        const f = await confirmDialog({ title: `Register the licence of ${x.name}`, confirmLabel: 'Register',
          body: html`<p class="small">Registration runs in the background (5–90 seconds). Leave the token empty to use the configured one${x.cml.licenseTokenConfigured ? '' : ' (none is configured)'}.</p>`,
          extra: html`<label class="form-label" for="dlg-token">Smart licensing token</label><input class="form-control mb-2" id="dlg-token" name="token" type="password" autocomplete="off">
            <div class="form-check"><input class="form-check-input" type="checkbox" id="dlg-rereg" name="reregister"><label class="form-check-label" for="dlg-rereg">Force re-registration</label></div>` });
        if (f) await busy(b, async () => { mergeWorker(await Api.registerLicense(id, String(f.get('token') ?? ''), f.get('reregister') === 'on')); toast('Licence registration started.', 'success'); }, 'Register licence');
        break;
      }
      case 'license-deregister': {
        const f = await confirmDialog({ title: `Deregister the licence of ${x.name}?`, danger: true, confirmLabel: 'Deregister',
          body: html`<p>CML on <strong>${x.name}</strong> releases its licence (10–60 seconds); labs cannot start until it is registered again.</p>` });
        if (f) await busy(b, async () => { mergeWorker(await Api.deregisterLicense(id)); toast('Licence deregistration started.', 'success'); }, 'Deregister licence');
        break;
      }
    }
  };

  const labAct = async (b: HTMLElement) => {
    const labId = b.closest('tr')!.getAttribute('data-lab')!;
    const l = store.labs.get(`${id}/${labId}`);
    const title = l?.title || labId;
    const a = b.dataset.labAct!;
    if (a === 'yaml') {
      await busy(b, async () => {
        const text = await Api.topology(id, labId);
        const url = URL.createObjectURL(new Blob([text], { type: 'application/yaml' }));
        const link = document.createElement('a');
        link.href = url; link.download = `${(title || labId).replace(/[^\w.-]+/g, '_')}.yaml`;
        document.body.appendChild(link); link.click(); link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 5000);
      }, `Download ${title}`);
      return;
    }
    if (a === 'wipe' || a === 'delete') {
      const f = await confirmDialog({ title: `${a === 'wipe' ? 'Wipe' : 'Delete'} lab ${title}?`, danger: true, confirmLabel: a === 'wipe' ? 'Wipe lab' : 'Delete lab',
        body: a === 'wipe' ? html`<p>Wiping <strong>${title}</strong> erases the disks and state of all its ${l?.nodeCount ?? ''} nodes. The topology stays.</p>`
          : html`<p>Deleting <strong>${title}</strong> destroys the lab, its topology and all its ${l?.nodeCount ?? ''} nodes' data on ${w()?.name}.</p>` });
      if (!f) return;
    }
    await busy(b, async () => {
      if (a === 'delete') {
        await Api.deleteLab(id, labId);
        if (l) store.labs.remove(l.id, Number.MAX_SAFE_INTEGER);
        renderLabs();
      } else {
        const r = await Api.labAction(id, labId, a as 'start' | 'stop' | 'wipe');
        if (r) mergeLab({ ...r, workerId: r.workerId || id });
      }
      toast(`Lab ${title}: ${a} requested.`, 'success');
    }, `${a} lab ${title}`);
  };

  const importFile = async (file: File) => {
    if (!/\.ya?ml$/i.test(file.name) && !/yaml/.test(file.type)) { toast(`${file.name} is not a YAML file.`, 'warning'); return; }
    const dz = $('#dropzone', el);
    dz?.classList.add('busy');
    try {
      const l = await Api.importLab(id, file);
      mergeLab({ ...l, workerId: l.workerId || id });
      renderLabs();
      toast(`Lab ${l.title || file.name} imported.`, 'success');
    } catch (e) {
      toast(`Import of ${file.name} failed: ${messageOf(e)}`, 'danger');
    } finally { dz?.classList.remove('busy'); }
  };
  offs.push(on(el, 'change', '#lab-file', (_e, inp) => { const f = (inp as HTMLInputElement).files?.[0]; if (f) void importFile(f); (inp as HTMLInputElement).value = ''; }));
  offs.push(on(el, 'keydown', '#dropzone', (e) => { if ((e.key === 'Enter' || e.key === ' ') && e.target === $('#dropzone', el)) { e.preventDefault(); ($('#lab-file', el) as HTMLInputElement).click(); } }));
  offs.push(on(el, 'dragover', '#dropzone', (e, dz) => { e.preventDefault(); dz.classList.add('over'); }));
  offs.push(on(el, 'dragleave', '#dropzone', (_e, dz) => dz.classList.remove('over')));
  offs.push(on(el, 'drop', '#dropzone', (e, dz) => { e.preventDefault(); dz.classList.remove('over'); const f = e.dataTransfer?.files?.[0]; if (f) void importFile(f); }));

  // Forms.
  offs.push(on(el, 'input', 'form', (_e, f) => { f.dataset.dirty = '1'; }));
  offs.push(on(el, 'change', '#ip-follow', (_e, c) => { ($('#ip-fields', el) as HTMLFieldSetElement).disabled = (c as HTMLInputElement).checked; }));
  offs.push(on(el, 'submit', '#idle-form', (e, f) => {
    e.preventDefault();
    const fd = new FormData(f as HTMLFormElement);
    const err = $('#ip-error', el)!;
    err.textContent = '';
    let body: IdlePolicy | null = null;
    if (fd.get('follow') !== 'on') {
      const num = (k: string) => Number((f.querySelector(`[name=${k}]`) as HTMLInputElement).value);
      const cpu = (f.querySelector('[name=cpuThresholdPercent]') as HTMLInputElement).value;
      body = { enabled: (f.querySelector('[name=enabled]') as HTMLInputElement).checked, timeoutMinutes: num('timeoutMinutes'), warningMinutes: num('warningMinutes'), snoozeMinutes: num('snoozeMinutes') };
      if (cpu !== '') body.cpuThresholdPercent = Number(cpu);
      if (!Number.isInteger(body.timeoutMinutes) || body.timeoutMinutes < 1) { err.textContent = 'The idle timeout must be a whole number of minutes, at least 1.'; return; }
      if (body.warningMinutes >= body.timeoutMinutes) { err.textContent = 'The warning must come before the timeout.'; return; }
    }
    void busy($('#ip-save', el), async () => {
      try {
        mergeWorker(await Api.setIdlePolicy(id, body));
        delete f.dataset.dirty;
        renderIdle(true);
        toast('Idle policy saved.', 'success');
      } catch (ex) { err.textContent = messageOf(ex); throw ex; }
    }, 'Save idle policy');
  }));
  offs.push(on(el, 'click', '[data-add]', () => {
    const box = $('#wakeups', el)!;
    const form = $('#sched-form', el) as HTMLFormElement & { _wake?: (d: string[], at: string, i: number) => Raw };
    form.dataset.dirty = '1';
    if (!box.querySelector('.wakeup')) box.innerHTML = '';
    const i = box.querySelectorAll('.wakeup').length;
    box.insertAdjacentHTML('beforeend', form._wake!(['mon', 'tue', 'wed', 'thu', 'fri'], '08:30', i).html);
    (box.querySelector(`#wk-${i}-mon`) as HTMLElement)?.focus();
  }));
  offs.push(on(el, 'click', '[data-rm]', (_e, b) => { ($('#sched-form', el) as HTMLElement).dataset.dirty = '1'; b.closest('.wakeup')!.remove(); }));
  offs.push(on(el, 'click', '[data-clear]', (_e, b) => void busy(b, async () => { mergeWorker(await Api.setSchedule(id, null)); renderSchedule(true); toast('Schedule cleared.', 'success'); }, 'Clear schedule')));
  offs.push(on(el, 'submit', '#sched-form', (e, f) => {
    e.preventDefault();
    const tz = (f.querySelector('[name=timezone]') as HTMLInputElement).value.trim();
    const wakeups = [...f.querySelectorAll('.wakeup')].map((wk) => ({
      days: [...wk.querySelectorAll<HTMLInputElement>('input[name=day]:checked')].map((c) => c.value),
      at: (wk.querySelector('input[name=at]') as HTMLInputElement).value,
    }));
    if (wakeups.some((x) => x.days.length === 0 || !x.at)) { toast('Each wake-up needs at least one day and a time.', 'warning'); return; }
    void busy(f.querySelector('[type=submit]'), async () => {
      mergeWorker(await Api.setSchedule(id, { timezone: tz || 'UTC', wakeups }));
      delete f.dataset.dirty; renderSchedule(true); toast('Schedule saved.', 'success');
    }, 'Save schedule');
  }));
  offs.push(on(el, 'submit', '#tags-form', (e, f) => {
    e.preventDefault();
    const { tags, error } = parseTags(($('#tags-text', el) as HTMLTextAreaElement).value);
    const errEl = $('#tags-error', el)!;
    errEl.textContent = error;
    if (error) return;
    void busy(f.querySelector('[type=submit]'), async () => {
      try { mergeWorker(await Api.setTags(id, tags)); renderTags(true); toast('Tags saved.', 'success'); } catch (ex) { errEl.textContent = messageOf(ex); throw ex; }
    }, 'Save tags');
  }));

  // Clocks: idle countdown and the running provisioning step.
  const timer = window.setInterval(() => {
    const now = Date.now();
    el.querySelectorAll<HTMLElement>('[data-countdown]').forEach((c) => {
      const t = countdown(Number(c.dataset.countdown), now);
      c.textContent = c.classList.contains('text-danger') ? `pauses in ${t}` : t;
    });
    el.querySelectorAll<HTMLElement>('[data-since]').forEach((c) => { c.textContent = duration(now - Number(c.dataset.since)); });
  }, 1000);
  const metricsTimer = window.setInterval(() => { if (range <= 3600_000 && document.visibilityState === 'visible') void loadMetrics(); }, 60_000);

  return () => { offs.forEach((f) => f()); clearInterval(timer); clearInterval(metricsTimer); charts?.destroy(); };
}

function eventDetails(e: WorkerEvent): string {
  const d = (e.data ?? {}) as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of ['step', 'reason', 'status', 'state', 'error', 'idleMinutes', 'source', 'title', 'note']) {
    const v = d[k];
    if (v !== undefined && v !== '' && v !== null && typeof v !== 'object') parts.push(`${k}: ${v}`);
  }
  if (d.auto === true) parts.push('automatic');
  if (d.policy && typeof d.policy === 'object') {
    const p = d.policy as IdlePolicy;
    parts.push(p.enabled ? `pause after ${p.timeoutMinutes} min` : 'auto-pause off');
  } else if ('policy' in d && d.policy === null) parts.push('follows the fleet policy');
  if (d.tags && typeof d.tags === 'object') parts.push(Object.entries(d.tags as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(', '));
  return esc(parts.join(' · ')) ? parts.join(' · ') : '';
}
