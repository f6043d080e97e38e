// Metrics charts with uPlot (loaded on demand: the fleet page does not pay for it).
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { html, setHTML } from './dom';
import type { Sample } from './types';

const SERIES: { key: keyof Sample; label: string; unit: string; max?: number; color: string }[] = [
  { key: 'cpuPercent', label: 'CPU', unit: '%', max: 100, color: '#0d6efd' },
  { key: 'memoryPercent', label: 'Memory', unit: '%', max: 100, color: '#6f42c1' },
  { key: 'diskPercent', label: 'Disk', unit: '%', max: 100, color: '#fd7e14' },
  { key: 'runningNodes', label: 'Running nodes', unit: '', color: '#198754' },
];

export function drawCharts(box: HTMLElement, samples: Sample[], rangeMs: number): { destroy(): void } {
  const sorted = [...samples].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const xs = sorted.map((s) => Date.parse(s.at) / 1000);
  const now = Date.now() / 1000;
  setHTML(box, html`${SERIES.map((s) => html`<div class="col-12 col-md-6"><figure class="chart mb-0" data-series="${s.key}">
    <figcaption class="small fw-semibold">${s.label}${s.unit ? ` (${s.unit})` : ''}</figcaption><div class="chart-plot"></div></figure></div>`)}
    ${sorted.length === 0 ? html`<p class="small text-body-secondary mb-0">No samples in this range yet.</p>` : ''}`);
  const dark = document.documentElement.getAttribute('data-bs-theme') === 'dark';
  const axisStroke = dark ? '#adb5bd' : '#495057';
  const grid = { stroke: dark ? '#343a40' : '#e9ecef', width: 1 };
  const plots: uPlot[] = [];
  const figures = [...box.querySelectorAll<HTMLElement>('figure.chart')];
  for (let i = 0; i < SERIES.length; i++) {
    const s = SERIES[i];
    const target = figures[i].querySelector<HTMLElement>('.chart-plot')!;
    const ys = sorted.map((x) => (x[s.key] as number | null) ?? null);
    const width = Math.max(240, target.clientWidth || figures[i].clientWidth || 300);
    const opts: uPlot.Options = {
      width, height: 150,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true, min: now - rangeMs / 1000, max: now }, y: s.max ? { range: [0, s.max] } : { range: (_u, _min, max) => [0, Math.max(4, Math.ceil((max ?? 0) * 1.2))] } },
      axes: [{ stroke: axisStroke, grid, size: 30 }, { stroke: axisStroke, grid, size: 40 }],
      series: [{}, { label: s.label, stroke: s.color, width: 2, fill: s.color + '22', spanGaps: false, points: { show: sorted.length < 3 } }],
    };
    const u = new uPlot(opts, [xs, ys] as uPlot.AlignedData, target);
    u.root.setAttribute('role', 'img');
    const last = ys.filter((v) => v != null).at(-1);
    u.root.setAttribute('aria-label', `${s.label} over the selected range, ${sorted.length} samples${last != null ? `, latest ${Math.round(last)}${s.unit}` : ''}`);
    plots.push(u);
  }
  box.setAttribute('data-drawn', String(sorted.length));
  const ro = new ResizeObserver(() => {
    plots.forEach((u, i) => {
      const w = figures[i].querySelector<HTMLElement>('.chart-plot')!.parentElement!.clientWidth;
      if (w > 0 && Math.abs(w - u.width) > 4) u.setSize({ width: w, height: 150 });
    });
  });
  ro.observe(box);
  return { destroy: () => { ro.disconnect(); plots.forEach((u) => u.destroy()); } };
}
