// Fleet settings (admins): provisioning defaults, intervals, idle policy,
// prices, discovery. Saved as a JSON merge patch; takes effect on the next tick.
import { Api } from '../api';
import { $, html, on, setHTML } from '../dom';
import { actor, dateTime } from '../format';
import { messageOf } from '../problem';
import { store } from '../store';
import type { Settings } from '../types';
import { alertBox, busy, spinner, toast } from '../ui';

const num = (id: string, label: string, v: number, min = 0, help = '') => html`<div class="col-6 col-md-3"><label class="form-label small" for="${id}">${label}</label><input class="form-control form-control-sm" type="number" min="${min}" id="${id}" value="${v}">${help ? html`<div class="form-text">${help}</div>` : ''}</div>`;

export function settingsPage(el: HTMLElement): () => void {
  setHTML(el, html`<div data-page="settings" style="max-width:60rem"><h1 class="h3">Settings</h1><div id="body">${spinner('Loading settings')}</div></div>`);
  const offs: (() => void)[] = [];
  const render = (s: Settings) => {
    const prices = Object.entries(s.prices ?? {}).sort(([a], [b]) => a.localeCompare(b));
    setHTML($('#body', el), html`<p class="text-body-secondary small">Version ${s.version}${s.updatedAt ? `, changed ${dateTime(s.updatedAt)} by ${actor(s.updatedBy)}` : ''}. Changes take effect on the next tick; no redeploy.</p>
    <form id="settings-form" novalidate>
      <section class="card mb-3"><div class="card-header"><h2 class="h6 mb-0">Provisioning defaults</h2></div><div class="card-body row g-2">
        <div class="col-md-4"><label class="form-label small" for="s-type">Default instance type</label><input class="form-control form-control-sm" id="s-type" value="${s.provisioning?.instanceType ?? ''}"></div>
        <div class="col-md-4"><label class="form-label small" for="s-key">Key pair</label><input class="form-control form-control-sm" id="s-key" value="${s.provisioning?.keyPairName ?? ''}"></div>
        <div class="col-md-4"><div class="form-check mt-4"><input class="form-check-input" type="checkbox" id="s-keepfailed" ${s.provisioning?.keepFailedInstance ? 'checked' : ''}><label class="form-check-label small" for="s-keepfailed">Keep failed instances (debugging)</label></div></div>
        <div class="col-12"><label class="form-label small" for="s-amis">AMIs by region (JSON: {"us-east-1": {"id": "ami-…"} })</label><textarea class="form-control form-control-sm font-monospace" rows="3" id="s-amis">${JSON.stringify(s.provisioning?.amis ?? {}, null, 1)}</textarea></div>
      </div></section>
      <section class="card mb-3"><div class="card-header"><h2 class="h6 mb-0">Intervals</h2></div><div class="card-body row g-2">
        ${num('s-metrics', 'Metrics (s)', s.intervals?.metricsSeconds ?? 0, 10)}${num('s-labs', 'Lab refresh (s)', s.intervals?.labsRefreshSeconds ?? 0, 10)}
        ${num('s-idlecheck', 'Idle check (s)', s.intervals?.idleCheckSeconds ?? 0, 10)}${num('s-discovery', 'Discovery (s)', s.intervals?.discoverySeconds ?? 0, 0)}
      </div></section>
      <section class="card mb-3"><div class="card-header"><h2 class="h6 mb-0">Fleet idle policy</h2></div><div class="card-body row g-2">
        <div class="col-12"><div class="form-check form-switch"><input class="form-check-input" type="checkbox" role="switch" id="s-ienabled" ${s.idlePolicy?.enabled ? 'checked' : ''}><label class="form-check-label" for="s-ienabled">Auto-pause idle workers</label></div></div>
        ${num('s-timeout', 'Timeout (min)', s.idlePolicy?.timeoutMinutes ?? 60, 1)}${num('s-warning', 'Warn before (min)', s.idlePolicy?.warningMinutes ?? 10)}${num('s-snooze', 'Snooze after start (min)', s.idlePolicy?.snoozeMinutes ?? 60)}
        <div class="col-6 col-md-3"><label class="form-label small" for="s-cpu">CPU activity above (%)</label><input class="form-control form-control-sm" type="number" min="0" max="100" id="s-cpu" placeholder="off" value="${s.idlePolicy?.cpuThresholdPercent ?? ''}"></div>
      </div></section>
      <section class="card mb-3"><div class="card-header"><h2 class="h6 mb-0">Prices (USD per hour)</h2></div><div class="card-body">
        <div id="prices">${prices.map(([t, p]) => html`<div class="row g-2 mb-1 price-row"><div class="col-7"><label class="visually-hidden" for="pt-${t}">Instance type</label><input class="form-control form-control-sm" id="pt-${t}" value="${t}" data-ptype></div><div class="col-3"><label class="visually-hidden" for="pp-${t}">Price of ${t}</label><input class="form-control form-control-sm" type="number" step="0.001" min="0" id="pp-${t}" value="${p}" data-pprice></div><div class="col-2"><button type="button" class="btn btn-sm btn-link text-danger" data-rmprice aria-label="Remove ${t}">Remove</button></div></div>`)}</div>
        <button type="button" class="btn btn-sm btn-outline-secondary" id="add-price">Add instance type</button>
      </div></section>
      <section class="card mb-3"><div class="card-header"><h2 class="h6 mb-0">Discovery</h2></div><div class="card-body row g-2">
        <div class="col-12"><div class="form-check form-switch"><input class="form-check-input" type="checkbox" role="switch" id="s-denabled" ${s.discovery?.enabled ? 'checked' : ''}><label class="form-check-label" for="s-denabled">Import tagged instances automatically</label></div></div>
        <div class="col-md-3"><label class="form-label small" for="s-dregions">Regions (comma-separated)</label><input class="form-control form-control-sm" id="s-dregions" value="${(s.discovery?.regions ?? []).join(', ')}"></div>
        <div class="col-md-3"><label class="form-label small" for="s-dkey">Tag key</label><input class="form-control form-control-sm" id="s-dkey" value="${s.discovery?.tagKey ?? ''}"></div>
        <div class="col-md-3"><label class="form-label small" for="s-dval">Tag value</label><input class="form-control form-control-sm" id="s-dval" value="${s.discovery?.tagValue ?? ''}"></div>
        <div class="col-md-3"><label class="form-label small" for="s-dami">AMI name pattern</label><input class="form-control form-control-sm" id="s-dami" value="${s.discovery?.amiNamePattern ?? ''}"></div>
      </div></section>
      <div id="s-error"></div>
      <button class="btn btn-primary" type="submit" id="s-save">Save settings</button>
    </form>`);
  };
  const load = () => Api.settings().then((s) => { store.fleetPolicy = s.idlePolicy; render(s); })
    .catch((e) => setHTML($('#body', el), alertBox('danger', `Settings could not be loaded. ${messageOf(e)}`)));
  void load();
  const v = (id: string) => ($(`#${id}`, el) as HTMLInputElement).value;
  const n = (id: string) => Number(v(id));
  const c = (id: string) => ($(`#${id}`, el) as HTMLInputElement).checked;
  offs.push(on(el, 'click', '#add-price', () => {
    const i = el.querySelectorAll('.price-row').length;
    $('#prices', el)!.insertAdjacentHTML('beforeend', html`<div class="row g-2 mb-1 price-row"><div class="col-7"><label class="visually-hidden" for="pt-new${i}">Instance type</label><input class="form-control form-control-sm" id="pt-new${i}" data-ptype placeholder="m5zn.metal"></div><div class="col-3"><label class="visually-hidden" for="pp-new${i}">Price</label><input class="form-control form-control-sm" type="number" step="0.001" min="0" id="pp-new${i}" data-pprice></div><div class="col-2"><button type="button" class="btn btn-sm btn-link text-danger" data-rmprice>Remove</button></div></div>`.html);
  }));
  offs.push(on(el, 'click', '[data-rmprice]', (_e, b) => b.closest('.price-row')!.remove()));
  offs.push(on(el, 'submit', '#settings-form', (e) => {
    e.preventDefault();
    const errBox = $('#s-error', el)!;
    errBox.innerHTML = '';
    let amis: unknown;
    try { amis = JSON.parse(v('s-amis') || '{}'); } catch { setHTML(errBox, alertBox('danger', 'AMIs by region is not valid JSON.')); return; }
    const prices: Record<string, number | null> = {};
    el.querySelectorAll('.price-row').forEach((r) => {
      const t = (r.querySelector('[data-ptype]') as HTMLInputElement).value.trim();
      const p = (r.querySelector('[data-pprice]') as HTMLInputElement).value;
      if (t && p !== '') prices[t] = Number(p);
    });
    const cpu = v('s-cpu');
    const patch = {
      provisioning: { instanceType: v('s-type'), keyPairName: v('s-key'), keepFailedInstance: c('s-keepfailed'), amis },
      intervals: { metricsSeconds: n('s-metrics'), labsRefreshSeconds: n('s-labs'), idleCheckSeconds: n('s-idlecheck'), discoverySeconds: n('s-discovery') },
      idlePolicy: { enabled: c('s-ienabled'), timeoutMinutes: n('s-timeout'), warningMinutes: n('s-warning'), snoozeMinutes: n('s-snooze'), cpuThresholdPercent: cpu === '' ? null : Number(cpu) },
      discovery: { enabled: c('s-denabled'), regions: v('s-dregions').split(',').map((x) => x.trim()).filter(Boolean), tagKey: v('s-dkey'), tagValue: v('s-dval'), amiNamePattern: v('s-dami') },
      prices,
    };
    void busy($('#s-save', el), async () => {
      try {
        // prices is a map: a merge patch must null the removed types.
        const cur = await Api.settings();
        for (const t of Object.keys(cur.prices ?? {})) if (!(t in prices)) prices[t] = null;
        const s = await Api.putSettings(patch);
        store.fleetPolicy = s.idlePolicy;
        render(s);
        toast('Settings saved; they apply from the next tick.', 'success');
      } catch (ex) { setHTML(errBox, alertBox('danger', `Settings were not saved. ${messageOf(ex)}`)); }
    });
  }));
  return () => offs.forEach((f) => f());
}
