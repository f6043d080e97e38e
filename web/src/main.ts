// Entry point: who is signed in, the shell (navbar, session banner,
// connection state), hash routing, live updates.
import 'bootstrap/dist/css/bootstrap.min.css';
import './styles.css';
import { Api, onUnauthenticated, setCsrf } from './api';
import { $, html, on, setHTML } from './dom';
import { countdown } from './format';
import { Live, type LiveState } from './live';
import { sessionWarning } from './logic';
import { messageOf } from './problem';
import { can, hasAccess, highestRole } from './roles';
import { handleLive, loadSummary, loadWorkers, store } from './store';
import { toast } from './ui';
import type { Principal } from './types';
import { renderNoAccess, renderSignIn, signInUrl } from './pages/access';

export type Cleanup = () => void;
export type Page = (el: HTMLElement, params: Record<string, string>) => Cleanup | void;

interface RouteDef { pattern: RegExp; keys: string[]; load: () => Promise<Page>; title: string; admin?: boolean }

const routes: RouteDef[] = [
  { pattern: /^\/?$/, keys: [], title: 'Fleet', load: async () => (await import('./pages/fleet')).fleetPage },
  { pattern: /^\/workers\/new$/, keys: [], title: 'Create worker', admin: true, load: async () => (await import('./pages/create')).createPage },
  { pattern: /^\/workers\/import$/, keys: [], title: 'Import workers', admin: true, load: async () => (await import('./pages/create')).importPage },
  { pattern: /^\/workers\/([^/]+)$/, keys: ['id'], title: 'Worker', load: async () => (await import('./pages/worker')).workerPage },
  { pattern: /^\/settings$/, keys: [], title: 'Settings', admin: true, load: async () => (await import('./pages/settings')).settingsPage },
];

let cleanup: Cleanup | void;
let routeSeq = 0;

async function route(): Promise<void> {
  const seq = ++routeSeq;
  const path = decodeURI(location.hash.replace(/^#/, '')) || '/';
  const main = $('#main')!;
  if (cleanup) { cleanup(); cleanup = undefined; }
  let def = routes.find((r) => r.pattern.test(path));
  if (!def) def = routes[0];
  const m = def.pattern.exec(path) ?? [];
  const params: Record<string, string> = {};
  def.keys.forEach((k, i) => { params[k] = decodeURIComponent(m[i + 1] ?? ''); });
  document.querySelectorAll('#nav a[data-route]').forEach((a) => {
    const active = (a as HTMLElement).dataset.route === def!.title;
    a.classList.toggle('active', active);
    if (active) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  });
  if (def.admin && !store.me?.roles.includes('admin')) {
    setHTML(main, html`<div class="alert alert-warning mt-3" role="alert">This page is for administrators.</div>`);
    return;
  }
  const page = await def.load();
  if (seq !== routeSeq) return;
  document.title = `${def.title} · CML Cloud Manager`;
  main.innerHTML = '';
  cleanup = page(main, params);
  main.focus({ preventScroll: true });
}

function applyTheme(t: string): void {
  document.documentElement.setAttribute('data-bs-theme', t);
  const b = $('#theme-toggle');
  if (b) {
    b.setAttribute('aria-label', t === 'dark' ? 'Switch to light theme' : 'Switch to dark theme');
    b.textContent = t === 'dark' ? '☀' : '☾';
  }
}

function initialTheme(): string {
  const saved = localStorage.getItem('cmlcm-theme');
  if (saved === 'light' || saved === 'dark') return saved;
  return matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

function renderShell(me: Principal): void {
  const admin = me.roles.includes('admin');
  setHTML(document.getElementById('app'), html`
  <a class="visually-hidden-focusable" href="#main">Skip to content</a>
  <nav class="navbar navbar-expand-md border-bottom bg-body-tertiary" aria-label="Main">
    <div class="container-fluid">
      <a class="navbar-brand fw-semibold" href="#/">CML Cloud Manager</a>
      <ul class="navbar-nav me-auto flex-row flex-wrap gap-2" id="nav">
        <li class="nav-item"><a class="nav-link" href="#/" data-route="Fleet">Fleet</a></li>
        ${can(me.roles, 'createWorker') ? html`<li class="nav-item"><a class="nav-link" href="#/workers/new" data-route="Create worker">New worker</a></li>` : ''}
        ${can(me.roles, 'importWorkers') ? html`<li class="nav-item"><a class="nav-link" href="#/workers/import" data-route="Import workers">Import</a></li>` : ''}
        ${admin ? html`<li class="nav-item"><a class="nav-link" href="#/settings" data-route="Settings">Settings</a></li>` : ''}
        <li class="nav-item"><a class="nav-link" href="/api/docs" target="_blank" rel="noopener">API docs</a></li>
      </ul>
      <div class="d-flex align-items-center gap-2 flex-wrap">
        <span id="conn" class="badge rounded-pill text-bg-secondary" role="status" aria-live="polite" data-state="connecting">Connecting…</span>
        <button id="theme-toggle" class="btn btn-sm btn-outline-secondary" type="button"></button>
        <span class="small" id="who"><span class="fw-semibold">${me.name || me.username}</span> <span class="badge text-bg-light border" data-role="${highestRole(me.roles)}">${highestRole(me.roles)}</span></span>
        <button id="logout" class="btn btn-sm btn-outline-secondary" type="button">Sign out</button>
      </div>
    </div>
  </nav>
  <div id="session-banner" class="alert alert-warning rounded-0 mb-0 py-2 d-none" role="alert"></div>
  <main id="main" class="container-fluid py-3" tabindex="-1"></main>
  <div id="toasts" class="toast-container position-fixed bottom-0 end-0 p-3" aria-live="polite"></div>`);
  applyTheme(document.documentElement.getAttribute('data-bs-theme') ?? 'light');
  $('#theme-toggle')!.addEventListener('click', () => {
    const t = document.documentElement.getAttribute('data-bs-theme') === 'dark' ? 'light' : 'dark';
    localStorage.setItem('cmlcm-theme', t);
    applyTheme(t);
  });
  $('#logout')!.addEventListener('click', signOut);
}

async function signOut(): Promise<void> {
  try {
    const r = await Api.logout();
    const to = r?.logoutUrl || r?.redirect;
    location.href = to || '/#/signed-out';
    if (!to) location.reload();
  } catch (e) {
    toast(`Sign-out failed: ${messageOf(e)}`, 'danger');
  }
}

function setConn(s: LiveState, retryMs?: number): void {
  const el = $('#conn');
  if (!el) return;
  const map: Record<LiveState, [string, string]> = {
    connecting: ['secondary', 'Connecting…'],
    live: ['success', 'Live'],
    reconnecting: ['warning', 'Reconnecting…'],
    offline: ['danger', 'Offline'],
  };
  const [cls, text] = map[s];
  el.className = `badge rounded-pill text-bg-${cls}`;
  el.dataset.state = s;
  el.textContent = s === 'offline' && retryMs ? `${text} · retry in ${Math.ceil(retryMs / 1000)}s` : text;
  el.title = s === 'live' ? 'Live updates are on' : 'Live updates are off; the page may be out of date';
}

// Session expiry: warn 10 minutes before, offer to extend.
function sessionLoop(): void {
  const banner = $('#session-banner');
  if (!banner) return;
  const tick = () => {
    const w = sessionWarning(store.me?.expiresAt);
    if (!w.warn) { banner.classList.add('d-none'); return; }
    banner.classList.remove('d-none');
    if (w.leftMs <= 0) {
      setHTML(banner, html`Your session has expired. <a class="alert-link" href="${signInUrl()}">Sign in again</a>`);
      return;
    }
    const existing = banner.querySelector('[data-left]');
    if (existing) { existing.textContent = countdown(Date.now() + w.leftMs); return; }
    setHTML(banner, html`<div class="d-flex align-items-center gap-3 flex-wrap">
      <span>Your session expires in <strong data-left>${countdown(Date.now() + w.leftMs)}</strong>.</span>
      <button class="btn btn-sm btn-warning" type="button" data-extend>Extend session</button></div>`);
  };
  on(banner, 'click', '[data-extend]', async (_e, btn) => {
    (btn as HTMLButtonElement).disabled = true;
    try {
      const me = await Api.me(false);
      store.me = me;
      setCsrf(me.csrfToken, (me as unknown as { csrfHeader?: string }).csrfHeader);
      banner.innerHTML = '';
      if (sessionWarning(me.expiresAt).warn) toast('The session could not be extended further; sign in again soon.', 'warning');
      else toast('Session extended.', 'success');
    } catch (e) {
      toast(`Could not extend the session: ${messageOf(e)}`, 'danger');
    }
    tick();
  });
  tick();
  window.setInterval(tick, 1000);
}

async function boot(): Promise<void> {
  applyTheme(initialTheme());
  const app = document.getElementById('app')!;
  let me: Principal;
  try {
    me = await Api.me(true);
  } catch (e) {
    const status = (e as { status?: number }).status;
    if (status === 401) { renderSignIn(app); return; }
    setHTML(app, html`<div class="container py-5"><div class="alert alert-danger" role="alert"><h1 class="h5">CML Cloud Manager is not reachable</h1><p class="mb-2">${messageOf(e)}</p><button class="btn btn-outline-danger btn-sm" onclick="location.reload()">Try again</button></div></div>`);
    return;
  }
  store.me = me;
  if (!me.roles) me.roles = [];
  setCsrf(me.csrfToken, (me as unknown as { csrfHeader?: string }).csrfHeader);
  if (!hasAccess(me.roles)) { renderNoAccess(app, me, signOut); return; }

  renderShell(me);
  onUnauthenticated(() => {
    const banner = $('#session-banner');
    if (banner) {
      banner.classList.remove('d-none');
      setHTML(banner, html`Your session has ended. <a class="alert-link" href="${signInUrl()}">Sign in again</a>`);
    }
  });
  sessionLoop();

  const live = new Live();
  live.onState(setConn);
  live.onMessage(handleLive);
  live.onResync(() => { void loadWorkers().catch(() => undefined); void loadSummary().catch(() => undefined); });
  live.start();
  (window as unknown as { __cmlcm: unknown }).__cmlcm = { store, live };

  if (can(me.roles, 'getSettings')) {
    Api.settings().then((s) => { store.fleetPolicy = s.idlePolicy; store.workersChanged.emit(new Set()); }).catch(() => undefined);
  }
  window.addEventListener('hashchange', () => void route());
  await route();
}

void boot();
