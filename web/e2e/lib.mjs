// Browser helpers for the E2E tests: Debian's chromium driven by
// playwright-core (no browser download), a fresh profile per session.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const SHOTS = fileURLToPath(new URL('./screenshots/', import.meta.url));
export const SAMPLE_LAB = fileURLToPath(new URL('../../internal/cmlsim/testdata/sample-lab.yaml', import.meta.url));
export const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** session opens a browser with a fresh user-data-dir; close() removes it. */
export async function session({ width = 1366, height = 900 } = {}) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  const dir = mkdtempSync(join(tmpdir(), 'cmlcm-e2e-profile-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width, height }, acceptDownloads: true,
    colorScheme: 'light', locale: 'en-US', timezoneId: 'UTC',
  });
  const page = ctx.pages()[0] ?? await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  return { ctx, page, errors, close: async () => { await ctx.close(); rmSync(dir, { recursive: true, force: true }); } };
}

/** signIn opens the dashboard, follows the redirect to the identity provider's login form and signs in. */
export async function signIn(page, base, user, password = 'test') {
  await page.goto(`${base}/`);
  const userField = page.locator('input[name=username], input#username, input[autocomplete=username]').first();
  await userField.waitFor({ timeout: 15000 });
  await userField.fill(user);
  await page.locator('input[type=password]').first().fill(password);
  await Promise.all([
    page.waitForURL((u) => u.toString().startsWith(base) && !u.pathname.startsWith('/api/'), { timeout: 15000 }),
    page.locator('input[type=password]').first().press('Enter'),
  ]);
  await page.locator('[data-page]').first().waitFor({ timeout: 15000 });
}

export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
}

/** markNoReload sets a flag a full page load would erase. */
export async function markNoReload(page) { await page.evaluate(() => { window.__noReload = 'still-here'; }); }
export async function assertNoReload(page) {
  const v = await page.evaluate(() => window.__noReload);
  if (v !== 'still-here') throw new Error('the page was reloaded');
}

/** forced calls the API from the page with the session cookie and the CSRF token; returns the status. */
export async function forced(page, method, path, body) {
  return page.evaluate(async ([m, p, b]) => {
    const me = await (await fetch('/api/auth/me')).json();
    const h = { 'Content-Type': 'application/json' };
    if (me.csrfToken) h[me.csrfHeader || 'X-CSRF-Token'] = me.csrfToken;
    const r = await fetch(p, { method: m, headers: h, body: b ? JSON.stringify(b) : undefined });
    return { status: r.status, type: (await r.json().catch(() => ({}))).type ?? '' };
  }, [method, path, body]);
}
