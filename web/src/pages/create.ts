// Create a worker; import workers by instance id or by discovery (tag/AMI pattern) with a preview.
import { Api } from '../api';
import { $, html, on, setHTML, type Raw } from '../dom';
import { perHour } from '../format';
import { messageOf } from '../problem';
import { mergeWorker, store } from '../store';
import type { Candidate, ImportResult, IdlePolicy, Settings } from '../types';
import { alertBox, busy, spinner, toast } from '../ui';

const DEFAULT_REGIONS = ['us-east-1', 'us-east-2', 'us-west-2', 'eu-west-1', 'eu-central-1', 'ap-southeast-1'];
const DEFAULT_PRICES: Record<string, number> = { 'm5zn.metal': 3.964, 'm5.metal': 4.608, 'c5.metal': 4.08, 'm7i.metal-24xl': 4.838, 'c5n.metal': 3.888 };

function idleFields(p: IdlePolicy): Raw {
  return html`<fieldset class="border rounded p-2 mb-3"><legend class="float-none w-auto px-1 small mb-0">Idle policy</legend>
    <div class="form-check form-switch mb-2"><input class="form-check-input" type="checkbox" role="switch" id="c-follow" name="followFleet" checked><label class="form-check-label" for="c-follow">Follow the fleet policy (${p.enabled ? `pause after ${p.timeoutMinutes} min idle` : 'off'})</label></div>
    <div class="row g-2" id="c-idle">
      <div class="col-6 col-md-3"><div class="form-check form-switch mt-4"><input class="form-check-input" type="checkbox" id="c-ienabled" name="idleEnabled" ${p.enabled ? 'checked' : ''} disabled><label class="form-check-label" for="c-ienabled">Auto-pause</label></div></div>
      <div class="col-6 col-md-3"><label class="form-label small" for="c-timeout">Timeout (min)</label><input class="form-control" type="number" min="1" id="c-timeout" name="timeoutMinutes" value="${p.timeoutMinutes}" disabled></div>
      <div class="col-6 col-md-3"><label class="form-label small" for="c-warning">Warn before (min)</label><input class="form-control" type="number" min="0" id="c-warning" name="warningMinutes" value="${p.warningMinutes}" disabled></div>
      <div class="col-6 col-md-3"><label class="form-label small" for="c-snooze">Snooze (min)</label><input class="form-control" type="number" min="0" id="c-snooze" name="snoozeMinutes" value="${p.snoozeMinutes}" disabled></div>
    </div></fieldset>`;
}

function readIdle(f: HTMLFormElement): IdlePolicy | null {
  const fd = new FormData(f);
  if (fd.get('followFleet') === 'on') return null;
  return {
    enabled: (f.querySelector('[name=idleEnabled]') as HTMLInputElement).checked,
    timeoutMinutes: Number(fd.get('timeoutMinutes')), warningMinutes: Number(fd.get('warningMinutes')), snoozeMinutes: Number(fd.get('snoozeMinutes')),
  };
}

async function settingsOrDefaults(): Promise<{ regions: string[]; prices: Record<string, number>; instanceType: string; amis: Settings['provisioning']['amis']; idle: IdlePolicy }> {
  try {
    const s = await Api.settings();
    store.fleetPolicy = s.idlePolicy;
    const regions = Object.keys(s.provisioning?.amis ?? {});
    return { regions: regions.length ? regions.sort() : DEFAULT_REGIONS, prices: Object.keys(s.prices ?? {}).length ? s.prices : DEFAULT_PRICES,
      instanceType: s.provisioning?.instanceType || 'm5zn.metal', amis: s.provisioning?.amis ?? {}, idle: s.idlePolicy };
  } catch {
    return { regions: DEFAULT_REGIONS, prices: DEFAULT_PRICES, instanceType: 'm5zn.metal', amis: {}, idle: { enabled: true, timeoutMinutes: 60, warningMinutes: 10, snoozeMinutes: 60 } };
  }
}

function onFollow(el: HTMLElement): () => void {
  return on(el, 'change', '#c-follow', (_e, c) => {
    el.querySelectorAll<HTMLInputElement>('#c-idle input').forEach((i) => { i.disabled = (c as HTMLInputElement).checked; });
  });
}

export function createPage(el: HTMLElement): () => void {
  setHTML(el, html`<div data-page="create" style="max-width:52rem"><h1 class="h3">Create worker</h1><div id="body">${spinner('Loading settings')}</div></div>`);
  const offs = [onFollow(el)];
  void settingsOrDefaults().then((s) => {
    const types = Object.entries(s.prices).sort(([a], [b]) => a.localeCompare(b));
    setHTML($('#body', el), html`<form id="create-form" novalidate>
      <p class="text-body-secondary">A worker is an EC2 metal instance running CML. Provisioning takes 10–20 minutes; you can follow it live on the worker's page.</p>
      <div class="row g-3 mb-3">
        <div class="col-md-6"><label class="form-label" for="c-name">Name</label><input class="form-control" id="c-name" name="name" required maxlength="64" pattern="[A-Za-z0-9][A-Za-z0-9 ._-]*" aria-describedby="c-name-help"><div class="form-text" id="c-name-help">Letters, digits, spaces, dots, dashes.</div></div>
        <div class="col-md-6"><label class="form-label" for="c-region">Region</label><select class="form-select" id="c-region" name="region">${s.regions.map((r) => html`<option>${r}</option>`)}</select></div>
        <div class="col-md-6"><label class="form-label" for="c-type">Instance type</label><select class="form-select" id="c-type" name="instanceType">${types.map(([t, p]) => html`<option value="${t}" ${t === s.instanceType ? 'selected' : ''}>${t} — ${perHour(p)}</option>`)}</select>
          <div class="form-text" id="c-price" aria-live="polite"></div></div>
        <div class="col-md-6"><label class="form-label" for="c-ami">AMI id or name (optional)</label><input class="form-control" id="c-ami" name="ami" placeholder="ami-… or a name; empty uses the region's default" aria-describedby="c-ami-help"><div class="form-text" id="c-ami-help"></div></div>
        <div class="col-md-6"><label class="form-label" for="c-license">CML licence token (optional)</label><input class="form-control" id="c-license" name="licenseToken" type="password" autocomplete="off"><div class="form-text">Stored as a secret; never shown again.</div></div>
        <div class="col-md-6"><label class="form-label" for="c-tags">Tags (optional)</label><input class="form-control" id="c-tags" name="tags" placeholder="team=netops, course=ccnp"></div>
      </div>
      ${idleFields(s.idle)}
      <div id="c-error"></div>
      <button class="btn btn-primary" type="submit" id="c-submit">Create and provision</button> <a class="btn btn-link" href="#/">Cancel</a>
    </form>`);
    const price = () => {
      const t = ($('#c-type', el) as HTMLSelectElement).value;
      const p = s.prices[t];
      $('#c-price', el)!.textContent = p ? `${perHour(p)} while running — ${perHour(p * 24).replace('/h', '')} per 24 h.` : '';
      const r = ($('#c-region', el) as HTMLSelectElement).value;
      const ami = s.amis[r];
      $('#c-ami-help', el)!.textContent = ami?.id || ami?.name ? `Default for ${r}: ${ami.id || ami.name}` : '';
    };
    price();
    offs.push(on(el, 'change', '#c-type, #c-region', price));
    offs.push(on(el, 'submit', '#create-form', (e, f) => {
      e.preventDefault();
      const form = f as HTMLFormElement;
      const fd = new FormData(form);
      const errBox = $('#c-error', el)!;
      errBox.innerHTML = '';
      const name = String(fd.get('name') ?? '').trim();
      if (!name) { setHTML(errBox, alertBox('danger', 'A name is required.')); ($('#c-name', el) as HTMLElement).focus(); return; }
      const ami = String(fd.get('ami') ?? '').trim();
      const tags: Record<string, string> = {};
      for (const part of String(fd.get('tags') ?? '').split(',')) {
        const [k, ...v] = part.split('=');
        if (k.trim()) tags[k.trim()] = v.join('=').trim();
      }
      const body: Record<string, unknown> = { name, region: fd.get('region'), instanceType: fd.get('instanceType') };
      if (ami) body[ami.startsWith('ami-') ? 'amiId' : 'amiName'] = ami;
      if (Object.keys(tags).length) body.tags = tags;
      const idle = readIdle(form);
      if (idle) body.idlePolicy = idle;
      const lt = String(fd.get('licenseToken') ?? '');
      if (lt) body.licenseToken = lt;
      void busy($('#c-submit', el), async () => {
        try {
          const w = await Api.create(body);
          mergeWorker(w);
          toast(`Worker ${w.name} is being provisioned.`, 'success');
          location.hash = `#/workers/${encodeURIComponent(w.id)}`;
        } catch (ex) { setHTML(errBox, alertBox('danger', `The worker was not created. ${messageOf(ex)}`)); }
      });
    }));
  });
  return () => offs.forEach((f) => f());
}

function candidatesTable(r: ImportResult): string {
  const rows = (r.preview ? r.candidates : r.imported.map((w) => ({ instanceId: w.instanceId, name: w.name, state: w.status, instanceType: w.instanceType, amiId: w.amiId, publicIp: w.publicIp, tags: w.tags } as Candidate)));
  return html`<h2 class="h5 mt-3">${r.preview ? `Would import ${rows.length} instance${rows.length === 1 ? '' : 's'}` : `Imported ${rows.length}`}</h2>
    <div class="table-responsive"><table class="table table-sm" id="import-preview"><thead><tr><th scope="col">Instance</th><th scope="col">Name</th><th scope="col">State</th><th scope="col">Type</th><th scope="col">AMI</th><th scope="col">Public IP</th></tr></thead>
    <tbody>${rows.length ? rows.map((c) => html`<tr><td>${c.instanceId}</td><td>${c.name}</td><td>${c.state}</td><td>${c.instanceType}</td><td>${c.amiId}</td><td>${c.publicIp}</td></tr>`) : html`<tr><td colspan="6" class="text-body-secondary">Nothing matches.</td></tr>`}</tbody></table></div>
    ${r.skipped?.length ? html`<h3 class="h6">Skipped</h3><ul class="small">${r.skipped.map((s) => html`<li>${s.instanceId}: ${s.reason}${s.workerId ? html` (<a href="#/workers/${s.workerId}">worker</a>)` : ''}</li>`)}</ul>` : ''}`.html;
}

export function importPage(el: HTMLElement): () => void {
  setHTML(el, html`<div data-page="import" style="max-width:56rem"><h1 class="h3">Import workers</h1><div id="body">${spinner('Loading settings')}</div></div>`);
  const offs = [onFollow(el)];
  void settingsOrDefaults().then((s) => {
    setHTML($('#body', el), html`<form id="import-form" novalidate>
      <p class="text-body-secondary">Bring existing CML instances under management. Nothing is started, stopped or changed on them.</p>
      <fieldset class="mb-3"><legend class="h6">How</legend>
        <div class="form-check form-check-inline"><input class="form-check-input" type="radio" name="mode" id="m-id" value="id" checked><label class="form-check-label" for="m-id">By instance id</label></div>
        <div class="form-check form-check-inline"><input class="form-check-input" type="radio" name="mode" id="m-disc" value="discover"><label class="form-check-label" for="m-disc">Discover by tag or AMI name</label></div>
      </fieldset>
      <div class="row g-3 mb-3">
        <div class="col-md-4"><label class="form-label" for="i-region">Region</label><select class="form-select" id="i-region" name="region">${s.regions.map((r) => html`<option>${r}</option>`)}</select></div>
        <div class="col-md-4 by-id"><label class="form-label" for="i-instance">Instance id</label><input class="form-control" id="i-instance" name="instanceId" placeholder="i-0123456789abcdef0" pattern="i-[0-9a-f]{8,17}"></div>
        <div class="col-md-4 by-id"><label class="form-label" for="i-name">Name (optional)</label><input class="form-control" id="i-name" name="name"></div>
        <div class="col-md-4 by-disc d-none"><label class="form-label" for="i-tagkey">Tag key</label><input class="form-control" id="i-tagkey" name="tagKey" placeholder="Purpose"></div>
        <div class="col-md-4 by-disc d-none"><label class="form-label" for="i-tagval">Tag value (empty: any)</label><input class="form-control" id="i-tagval" name="tagValue" placeholder="cml"></div>
        <div class="col-md-4 by-disc d-none"><label class="form-label" for="i-ami">AMI name pattern</label><input class="form-control" id="i-ami" name="amiNamePattern" placeholder="CML-2.9*"></div>
      </div>
      ${idleFields(s.idle)}
      <div id="i-error"></div>
      <button class="btn btn-outline-primary" type="button" id="i-preview">Preview</button>
      <button class="btn btn-primary" type="submit" id="i-submit">Import</button>
      <div id="i-result"></div></form>`);
    const mode = () => (el.querySelector('input[name=mode]:checked') as HTMLInputElement).value;
    offs.push(on(el, 'change', 'input[name=mode]', () => {
      const disc = mode() === 'discover';
      el.querySelectorAll('.by-id').forEach((n) => n.classList.toggle('d-none', disc));
      el.querySelectorAll('.by-disc').forEach((n) => n.classList.toggle('d-none', !disc));
    }));
    const body = (preview: boolean) => {
      const f = $('#import-form', el) as HTMLFormElement;
      const fd = new FormData(f);
      const b: Record<string, unknown> = { region: fd.get('region'), preview };
      if (mode() === 'id') {
        b.instanceId = String(fd.get('instanceId') ?? '').trim();
        const n = String(fd.get('name') ?? '').trim();
        if (n) b.name = n;
      } else {
        for (const k of ['tagKey', 'tagValue', 'amiNamePattern']) { const v = String(fd.get(k) ?? '').trim(); if (v) b[k] = v; }
      }
      const idle = readIdle(f);
      if (idle) b.idlePolicy = idle;
      return b;
    };
    const run = (preview: boolean, btn: HTMLElement | null) => {
      const errBox = $('#i-error', el)!;
      errBox.innerHTML = '';
      const b = body(preview);
      if (mode() === 'id' && !b.instanceId) { setHTML(errBox, alertBox('danger', 'Enter an instance id.')); return; }
      if (mode() === 'discover' && !b.tagKey && !b.amiNamePattern) { setHTML(errBox, alertBox('danger', 'Give a tag key or an AMI name pattern.')); return; }
      void busy(btn, async () => {
        try {
          const r = await Api.import(b);
          r.imported?.forEach(mergeWorker);
          setHTML($('#i-result', el), candidatesTable(r));
          if (!preview) toast(`Imported ${r.imported?.length ?? 0} worker(s).`, 'success');
        } catch (ex) { setHTML(errBox, alertBox('danger', `Import failed. ${messageOf(ex)}`)); }
      });
    };
    offs.push(on(el, 'click', '#i-preview', (_e, b) => run(true, b)));
    offs.push(on(el, 'submit', '#import-form', (e) => { e.preventDefault(); run(false, $('#i-submit', el)); }));
  });
  return () => offs.forEach((f) => f());
}
