// Shared widgets: status badges, usage bars, toasts, confirmation dialogs.
import { esc, html, raw, type Raw } from './dom';
import { percent, usageLevel } from './format';
import { messageOf } from './problem';

const STATUS_CLASS: Record<string, string> = {
  running: 'success', pending: 'info', provisioning: 'info', stopping: 'warning', stopped: 'secondary',
  'shutting-down': 'warning', terminated: 'dark', failed: 'danger',
};

export function statusBadge(status: string): Raw {
  const c = STATUS_CLASS[status] ?? 'secondary';
  const text = c === 'warning' || c === 'info' ? 'text-dark' : '';
  return html`<span class="badge text-bg-${c} ${text} status-badge" data-status="${status}">${status || 'unknown'}</span>`;
}

export function usageBar(v: number | null | undefined, label: string): Raw {
  // One element per bar (a gradient), so a 500-row table stays cheap to lay out.
  const lvl = usageLevel(v);
  const w = v == null ? 0 : Math.max(0, Math.min(100, Math.round(v)));
  return html`<span class="ubar ubar-${lvl}" role="meter" aria-label="${label}" aria-valuenow="${v == null ? '' : w}" aria-valuemin="0" aria-valuemax="100" aria-valuetext="${label} ${percent(v)}" style="--v:${w}%"><span class="ubar-num">${percent(v)}</span></span>`;
}

export function spinner(label = 'Loading'): Raw {
  return html`<div class="d-flex align-items-center gap-2 text-body-secondary my-3"><div class="spinner-border spinner-border-sm" role="status" aria-hidden="true"></div><span>${label}…</span></div>`;
}

export function alertBox(kind: 'danger' | 'warning' | 'info' | 'success', msg: string): Raw {
  return html`<div class="alert alert-${kind}" role="${kind === 'danger' ? 'alert' : 'status'}">${msg}</div>`;
}

/** toast shows a short message in the live region (errors stay longer). */
export function toast(msg: string, kind: 'success' | 'danger' | 'info' | 'warning' = 'info'): void {
  const box = document.getElementById('toasts');
  if (!box) return;
  const el = document.createElement('div');
  el.className = `toast show align-items-center text-bg-${kind} border-0`;
  el.setAttribute('role', kind === 'danger' ? 'alert' : 'status');
  el.innerHTML = `<div class="d-flex"><div class="toast-body">${esc(msg)}</div><button type="button" class="btn-close btn-close-white me-2 m-auto" aria-label="Dismiss"></button></div>`;
  el.querySelector('button')!.addEventListener('click', () => el.remove());
  box.appendChild(el);
  window.setTimeout(() => el.remove(), kind === 'danger' ? 12000 : 5000);
}

/** toastError shows an API error in words. */
export function toastError(err: unknown, what?: string): void {
  toast(what ? `${what}: ${messageOf(err)}` : messageOf(err), 'danger');
}

export interface ConfirmOptions {
  title: string;
  body: Raw | string;
  confirmLabel: string;
  danger?: boolean;
  /** typeToConfirm makes the person type this text (e.g. the worker's name) first. */
  typeToConfirm?: string;
  /** extra form controls inside the dialog; their values are returned */
  extra?: Raw;
}

/** confirmDialog asks a question in a modal <dialog>; resolves to the form values or null when cancelled. */
export function confirmDialog(o: ConfirmOptions): Promise<FormData | null> {
  return new Promise((resolve) => {
    const dlg = document.createElement('dialog');
    dlg.className = 'cm-dialog';
    dlg.setAttribute('aria-labelledby', 'dlg-title');
    const typeField = o.typeToConfirm
      ? html`<div class="mb-2"><label class="form-label" for="dlg-type">Type <strong>${o.typeToConfirm}</strong> to confirm</label>
          <input class="form-control" id="dlg-type" name="typed" autocomplete="off" required></div>`
      : raw('');
    dlg.innerHTML = html`<form method="dialog" class="p-3">
      <h2 class="h5" id="dlg-title">${o.title}</h2>
      <div class="mb-3 dlg-body">${o.body}</div>
      ${o.extra ?? raw('')}
      ${typeField}
      <div class="d-flex justify-content-end gap-2 mt-3">
        <button type="button" class="btn btn-outline-secondary" value="cancel" data-cancel>Cancel</button>
        <button type="submit" class="btn ${o.danger ? 'btn-danger' : 'btn-primary'}" value="ok" data-ok ${o.typeToConfirm ? 'disabled' : ''}>${o.confirmLabel}</button>
      </div></form>`.html;
    document.body.appendChild(dlg);
    const form = dlg.querySelector('form')!;
    const ok = dlg.querySelector('[data-ok]') as HTMLButtonElement;
    const typed = dlg.querySelector('#dlg-type') as HTMLInputElement | null;
    typed?.addEventListener('input', () => { ok.disabled = typed.value.trim() !== o.typeToConfirm; });
    let result: FormData | null = null;
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (typed && typed.value.trim() !== o.typeToConfirm) return;
      result = new FormData(form);
      dlg.close();
    });
    dlg.querySelector('[data-cancel]')!.addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => { dlg.remove(); resolve(result); });
    dlg.showModal();
    (typed ?? ok).focus();
  });
}

/** busy disables a button while a promise runs, and reports its error. */
export async function busy<T>(btn: HTMLElement | null, fn: () => Promise<T>, what?: string): Promise<T | undefined> {
  const b = btn as HTMLButtonElement | null;
  if (b) { b.disabled = true; b.setAttribute('aria-busy', 'true'); }
  try {
    return await fn();
  } catch (e) {
    toastError(e, what);
    return undefined;
  } finally {
    if (b) { b.disabled = false; b.removeAttribute('aria-busy'); }
  }
}
