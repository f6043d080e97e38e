// The browser scenarios, run against a target (the stub API or the
// real local server): t is node:test's context, env = { base, kind, slow }.
import assert from 'node:assert/strict';
import { assertNoReload, forced, markNoReload, SAMPLE_LAB, session, shot, signIn } from './lib.mjs';

export function scenarios(test, env) {
  const T = (ms) => ms * (env.slow ?? 1);
  const shared = {};

  test('admin signs in and sees the fleet', async () => {
    const s = await session();
    shared.admin = s;
    await signIn(s.page, env.base(), 'admin');
    await s.page.locator('[data-page=fleet][data-loaded]').waitFor({ timeout: 15000 });
    await s.page.locator('#conn[data-state=live]').waitFor({ timeout: 15000 });
    assert.ok(await s.page.locator('a[href="#/workers/new"]').first().isVisible(), 'admin sees New worker');
    assert.ok(await s.page.locator('#nav a[href="#/settings"]').isVisible(), 'admin sees Settings');
    await shot(s.page, `${env.kind}-fleet`);
  });

  test('admin creates a worker and watches it reach running with no reload', async () => {
    const { page } = shared.admin;
    await page.locator('a[href="#/workers/new"]').first().click();
    await page.locator('#create-form').waitFor();
    await markNoReload(page);
    await page.fill('#c-name', `e2e-${Date.now() % 100000}`);
    await shot(page, `${env.kind}-create`);
    await page.click('#c-submit');
    await page.waitForFunction(() => /^#\/workers\/(?!new$|import$)[^/]+$/.test(location.hash), null, { timeout: 15000 });
    shared.workerUrl = page.url();
    await page.locator('[data-page=worker] .steps').waitFor({ timeout: T(15000) });
    await page.locator('#head-status [data-status=running]').waitFor({ timeout: T(30000) });
    await page.locator('.steps [data-step=ready][data-state=done]').waitFor({ timeout: T(30000) });
    const times = await page.locator('.steps [data-state=done] .step-time').allTextContents();
    assert.ok(times.some((x) => /\d+s|\dm/.test(x)), `steps show elapsed times: ${times}`);
    await assertNoReload(page);
  });

  test('admin imports the sample lab (file picker) and starts it', async () => {
    const { page } = shared.admin;
    await page.locator('#lab-file').waitFor({ state: 'attached', timeout: T(30000) });
    await page.setInputFiles('#lab-file', SAMPLE_LAB);
    const row = page.locator('#labs-table tbody tr[data-lab]').first();
    await row.waitFor({ timeout: T(20000) });
    await row.locator('[data-lab-act=start]').click();
    await page.locator('#labs-table tr[data-lab][data-state=STARTED], #labs-table tr[data-lab][data-state=BOOTED]').first().waitFor({ timeout: T(30000) });
    await assertNoReload(page);
  });

  test('admin sees the metrics charts drawn', async () => {
    const { page } = shared.admin;
    await page.locator('#charts[data-drawn]').waitFor({ timeout: T(20000) });
    assert.ok(await page.locator('#charts canvas').count() >= 4, 'four uPlot canvases');
    await page.click('[data-range="86400000"]');
    await page.locator('#charts[data-drawn]').waitFor({ timeout: T(20000) });
    await page.click('[data-range="3600000"]');
    await page.locator('#charts[data-drawn]').waitFor({ timeout: T(20000) });
    await shot(page, `${env.kind}-worker`);
  });

  test('admin changes the idle policy and sees an auto-pause arrive live', async () => {
    const { page } = shared.admin;
    // a running lab is activity: stop it first
    const started = page.locator('#labs-table [data-lab-act=stop]').first();
    if (await started.count()) {
      await started.click();
      await page.locator('#labs-table tr[data-lab][data-state=STOPPED]').first().waitFor({ timeout: T(30000) });
    }
    await page.uncheck('#ip-follow');
    await page.fill('#ip-timeout', '1');
    await page.fill('#ip-warning', '0');
    await page.fill('#ip-snooze', '0');
    await page.click('#ip-save');
    await page.locator('#history-table tr[data-type*=idle_policy_changed]').first().waitFor({ timeout: T(15000) });
    await page.locator('#head-status [data-status=stopped], #head-status [data-status=stopping]').waitFor({ timeout: env.autoPauseTimeout ?? 20000 });
    await page.locator('#status-card').getByText(/auto, idle/).waitFor({ timeout: T(30000) });
    await assertNoReload(page);
  });

  test('user sees no admin actions and a forced admin call is refused (403)', async () => {
    await shared.admin?.close();
    const s = await session({ width: 820, height: 1100 });
    try {
      await signIn(s.page, env.base(), 'user');
      await s.page.locator('[data-page=fleet][data-loaded]').waitFor({ timeout: 15000 });
      assert.equal(await s.page.locator('a[href="#/workers/new"]').count(), 0, 'no New worker');
      assert.equal(await s.page.locator('a[href="#/workers/import"]').count(), 0, 'no Import');
      assert.equal(await s.page.locator('#nav a[href="#/settings"]').count(), 0, 'no Settings');
      assert.equal(await s.page.locator('[data-act=stop]').count(), 0, 'no Stop buttons');
      await shot(s.page, `${env.kind}-fleet-user-tablet`);
      const id = await s.page.locator('#workers tbody tr[data-id]').first().getAttribute('data-id');
      if (id) {
        await s.page.goto(`${env.base()}/#/workers/${id}`);
        await s.page.locator('#status-card .card').waitFor({ timeout: 15000 });
        assert.equal(await s.page.locator('[data-act=delete]').count(), 0, 'no Delete');
        assert.equal(await s.page.locator('#idle-form').count(), 0, 'no idle policy editor');
        assert.equal(await s.page.locator('#tags-form').count(), 0, 'no tags editor');
      }
      const create = await forced(s.page, 'POST', '/api/workers', { name: 'nope', region: 'us-east-1', instanceType: 'm5zn.metal' });
      assert.equal(create.status, 403, `create as user: ${JSON.stringify(create)}`);
      const settings = await forced(s.page, 'GET', '/api/settings');
      assert.equal(settings.status, 403);
      assert.deepEqual(s.errors, []);
    } finally { await s.close(); }
  });

  test('guest (no role) sees the no-access page', async () => {
    const s = await session();
    try {
      await signIn(s.page, env.base(), 'guest');
      await s.page.locator('[data-page=no-access]').waitFor({ timeout: 15000 });
      assert.match(await s.page.locator('h1').innerText(), /No access/);
      await shot(s.page, `${env.kind}-no-access`);
    } finally { await s.close(); }
  });
}
