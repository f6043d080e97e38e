// Signed-out and no-access pages.
import { html, setHTML } from '../dom';
import type { Principal } from '../types';

/** signInUrl starts the OIDC login and comes back to where the person was. */
export function signInUrl(): string {
  const back = location.pathname + location.search + (location.hash && location.hash !== '#/signed-out' ? location.hash : '');
  return `/api/auth/login?return_to=${encodeURIComponent(back || '/')}`;
}

const GUARD = 'cmlcm-signin-redirect';

/** renderSignIn sends the person to the identity provider, unless we just did (no loop) or they signed out. */
export function renderSignIn(app: HTMLElement): void {
  const signedOut = location.hash === '#/signed-out';
  const last = Number(sessionStorage.getItem(GUARD) ?? 0);
  const auto = !signedOut && Date.now() - last > 15000;
  setHTML(app, html`<main class="container py-5" style="max-width:34rem" id="main">
    <div class="card shadow-sm"><div class="card-body p-4">
      <h1 class="h4 mb-3">CML Cloud Manager</h1>
      <p>${signedOut ? 'You are signed out.' : 'Sign in with your organisation account to manage the CML fleet.'}</p>
      ${auto ? html`<p class="text-body-secondary small" role="status">Redirecting to sign-in…</p>` : ''}
      <a class="btn btn-primary" href="${signInUrl()}" id="signin">Sign in</a>
    </div></div></main>`);
  if (auto) {
    sessionStorage.setItem(GUARD, String(Date.now()));
    location.assign(signInUrl());
  }
}

export function renderNoAccess(app: HTMLElement, me: Principal, signOut: () => void): void {
  setHTML(app, html`<main class="container py-5" style="max-width:40rem" id="main" data-page="no-access">
    <div class="card border-warning"><div class="card-body p-4">
      <h1 class="h4 mb-3">No access</h1>
      <p>You are signed in as <strong>${me.name || me.username || me.subject}</strong>${me.email ? html` (${me.email})` : ''}, but your account has no role in CML Cloud Manager.</p>
      <p>Ask an administrator to give you the <em>user</em>, <em>manager</em> or <em>admin</em> role, then sign in again.</p>
      <button class="btn btn-outline-secondary" type="button" id="logout">Sign out</button>
    </div></div></main>`);
  app.querySelector('#logout')!.addEventListener('click', signOut);
}
