// Dashboard benchmark: the built bundle's size (gzip) and the time to first
// render of the fleet page with 500 workers in headless Chromium, against
// the stub API (a rendering benchmark: the API's own latency is measured by
// the Go benchmarks).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { startStub } from '../e2e/stub-server.mjs';
import { session, signIn } from '../e2e/lib.mjs';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const WORKERS = Number(process.env.BENCH_WORKERS ?? 500);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

function walk(dir) {
  return readdirSync(dir).flatMap((f) => { const p = join(dir, f); return statSync(p).isDirectory() ? walk(p) : [p]; });
}
const files = walk(DIST);
const size = (pred) => files.filter(pred).reduce((a, f) => { const b = readFileSync(f); return { raw: a.raw + b.length, gz: a.gz + gzipSync(b, { level: 9 }).length }; }, { raw: 0, gz: 0 });
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
const all = size((f) => /\.(js|css|html)$/.test(f));
const js = size((f) => f.endsWith('.js'));
const css = size((f) => f.endsWith('.css'));
// What the fleet page loads: index.html, the entry chunk and css, the fleet chunk (charts are lazy).
const html = readFileSync(join(DIST, 'index.html'), 'utf8');
const initialNames = [...html.matchAll(/(?:src|href)="\.?\/?(assets\/[^"]+)"/g)].map((m) => m[1]);
const initial = size((f) => f.endsWith('index.html') || initialNames.some((n) => f.endsWith(n)) || /assets\/fleet-[^/]+\.js$/.test(f));

const stub = await startStub({ workers: WORKERS });
const s = await session({ width: 1366, height: 900 });
const times = [];
try {
  await signIn(s.page, stub.url, 'admin');
  await s.page.locator(`[data-page=fleet][data-loaded] #workers tbody tr[data-id] >> nth=${WORKERS - 1}`).waitFor({ timeout: 60000 });
  for (let i = 0; i < RUNS; i++) {
    await s.page.goto(`${stub.url}/?r=${i}#/`);
    await s.page.locator(`#workers tbody[data-complete=true] tr[data-id] >> nth=${WORKERS - 1}`).waitFor({ timeout: 60000 });
    await s.page.waitForFunction(() => performance.getEntriesByName('cmlcm:fleet-complete').length > 0);
    times.push(await s.page.evaluate(() => {
      const m = (n) => performance.getEntriesByName(n)[0]?.startTime ?? NaN;
      const nav = performance.getEntriesByType('navigation')[0];
      const el = document.querySelector('[data-page=fleet]');
      return { first: m('cmlcm:fleet-first-render'), painted: m('cmlcm:fleet-complete'), fetchRender: Number(el?.getAttribute('data-loaded') ?? NaN),
        domContentLoaded: nav?.domContentLoadedEventEnd ?? NaN, responseEnd: nav?.responseEnd ?? NaN };
    }));
  }
  // live-update cost: 100 worker.updated messages
  const live = await s.page.evaluate(async (n) => {
    const st = window.__cmlcm.store;
    const ws = st.workers.values().slice(0, n);
    const t0 = performance.now();
    for (const w of ws) { w.version += 1; st.workersChanged.emit(new Set([w.id])); }
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    return performance.now() - t0;
  }, 100);
  times.live = live;
} finally {
  await s.close();
  await stub.close();
}
const med = (xs) => { const a = [...xs].sort((x, y) => x - y); return a[Math.floor(a.length / 2)]; };
const ms = (x) => `${Math.round(x)} ms`;
console.log('dashboard bundle (web/dist)');
console.log(`  total js+css+html      ${kb(all.raw)} raw, ${kb(all.gz)} gzip`);
console.log(`  javascript             ${kb(js.raw)} raw, ${kb(js.gz)} gzip`);
console.log(`  css                    ${kb(css.raw)} raw, ${kb(css.gz)} gzip (Bootstrap 5 is ~31 KiB of it)`);
console.log(`  fleet page first load  ${kb(initial.gz)} gzip (charts load on the worker page only)`);
console.log(`fleet page with ${WORKERS} workers, headless Chromium, median of ${RUNS}`);
console.log(`  first render (navigation start to first rows painted)     ${ms(med(times.map((t) => t.first)))}`);
console.log(`  complete (navigation start to all ${WORKERS} rows painted)     ${ms(med(times.map((t) => t.painted)))}`);
console.log(`  page mount to data loaded and rendered                    ${ms(med(times.map((t) => t.fetchRender)))}`);
console.log(`  HTML received                                             ${ms(med(times.map((t) => t.responseEnd)))}`);
console.log(`  DOMContentLoaded                                          ${ms(med(times.map((t) => t.domContentLoaded)))}`);
console.log(`  100 live row updates                                      ${ms(times.live)}`);
