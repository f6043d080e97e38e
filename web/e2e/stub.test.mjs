// Browser tests against the stub API (always runnable: proves the
// dashboard's behaviour in Chromium independently of the Go server).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startStub } from './stub-server.mjs';
import { scenarios } from './scenarios.mjs';
import { session, shot, signIn } from './lib.mjs';

describe('dashboard on the stub API', () => {
  let stub;
  before(async () => { stub = await startStub({ workers: 12, stepMs: 300, autoPauseMs: 2000 }); });
  after(async () => { await stub?.close(); });
  scenarios(test, { kind: 'stub', base: () => stub.url, autoPauseTimeout: 20000 });

  test('the connection badge shows a dropped WebSocket and reconnects by itself', async () => {
    const s = await session();
    try {
      await signIn(s.page, stub.url, 'manager');
      await s.page.locator('#conn[data-state=live]').waitFor({ timeout: 10000 });
      stub.dropSockets();
      await s.page.locator('#conn[data-state=offline], #conn[data-state=reconnecting]').waitFor({ timeout: 5000 });
      await s.page.locator('#conn[data-state=live]').waitFor({ timeout: 15000 });
      // a live update after the reconnection still lands
      const w = [...stub.state.workers.values()].find((x) => x.status === 'running');
      w.name = 'renamed-live'; w.version += 1;
      for (const ws of stub.sockets) ws.send(JSON.stringify({ type: 'worker.updated', data: w }));
      await s.page.locator('#workers').getByText('renamed-live').waitFor({ timeout: 5000 });
      // an older version never overwrites it
      const old = { ...w, name: 'stale', version: w.version - 1 };
      for (const ws of stub.sockets) ws.send(JSON.stringify({ type: 'worker.updated', data: old }));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await s.page.locator('#workers').getByText('stale').count(), 0);
    } finally { await s.close(); }
  });

  test('dark theme and an API error shown in words', async () => {
    const s = await session();
    try {
      await signIn(s.page, stub.url, 'admin');
      await s.page.click('#theme-toggle');
      assert.equal(await s.page.getAttribute('html', 'data-bs-theme'), 'dark');
      const w = [...stub.state.workers.values()].find((x) => x.status === 'stopped');
      await s.page.goto(`${stub.url}/#/workers/${w.id}`);
      await s.page.locator('#status-card .card').waitFor();
      await shot(s.page, 'stub-worker-dark');
      // a 409 from the API becomes a sentence with the problem detail
      await s.page.evaluate(() => { document.querySelector('#head')?.insertAdjacentHTML('beforeend', '<button data-act="stop" id="force-stop">x</button>'); });
      await s.page.click('#force-stop');
      await s.page.click('dialog [data-ok]');
      await s.page.locator('.toast').getByText(/state does not allow this: stop worker .* cannot be stopped/).waitFor({ timeout: 5000 });
    } finally { await s.close(); }
  });
});
