// Formatting of money, durations, countdowns, percentages and times. Pure
// functions: the unit tests cover them.

const usd2 = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 2 });
const usd3 = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 3, maximumFractionDigits: 3 });

/** money formats US dollars: two decimals, three below one dollar (prices per hour). */
export function money(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return '—';
  if (v !== 0 && Math.abs(v) < 1) return usd3.format(v);
  return usd2.format(v);
}

/** perHour formats an hourly price: "$3.964/h". */
export function perHour(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return '—';
  const s = Math.abs(v) >= 100 ? usd2.format(v) : '$' + trimZeros(v.toFixed(3));
  return s + '/h';
}

function trimZeros(s: string): string {
  // keep at least two decimals: 3.964 → 3.964, 4.000 → 4.00, 0.500 → 0.50
  const [i, d = ''] = s.split('.');
  let dd = d.replace(/0+$/, '');
  if (dd.length < 2) dd = dd.padEnd(2, '0');
  return `${i}.${dd}`;
}

/** hours formats a number of hours with one decimal: "12.5 h". */
export function hours(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return '—';
  return `${v.toFixed(v >= 100 ? 0 : 1)} h`;
}

/**
 * duration formats milliseconds compactly: "45s", "3m 05s", "2h 07m",
 * "3d 4h". Negative values are formatted as their absolute value.
 */
export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${pad(m)}m`;
  if (m > 0) return `${m}m ${pad(s)}s`;
  return `${s}s`;
}

/** countdown formats the time left until a deadline as "mm:ss" or "h:mm:ss"; past deadlines give "0:00". */
export function countdown(deadline: Date | string | number | null | undefined, now: number = Date.now()): string {
  if (deadline == null) return '';
  const t = deadline instanceof Date ? deadline.getTime() : typeof deadline === 'number' ? deadline : Date.parse(deadline);
  if (!Number.isFinite(t)) return '';
  let s = Math.max(0, Math.ceil((t - now) / 1000));
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

function pad(n: number): string { return n < 10 ? `0${n}` : `${n}`; }

/** percent formats 0–100 values: "42%", "—" when unknown. */
export function percent(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return '—';
  return `${Math.round(v)}%`;
}

/** relative formats a past or future time relative to now: "3m ago", "in 2h 05m", "just now". */
export function relative(at: string | null | undefined, now: number = Date.now()): string {
  if (!at) return '—';
  const t = Date.parse(at);
  if (!Number.isFinite(t)) return '—';
  const d = t - now;
  if (Math.abs(d) < 5000) return 'just now';
  return d < 0 ? `${duration(-d)} ago` : `in ${duration(d)}`;
}

/** dateTime formats an ISO time in the viewer's locale; "—" when unset. */
export function dateTime(at: string | null | undefined): string {
  if (!at) return '—';
  const t = new Date(at);
  if (Number.isNaN(t.getTime())) return '—';
  return t.toLocaleString(undefined, { year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** actor turns an event actor into words: "system:idle" → "automation (idle)". */
export function actor(a: string | null | undefined): string {
  if (!a) return '—';
  if (a.startsWith('system:')) return `automation (${a.slice(7)})`;
  if (a === 'system') return 'automation';
  if (a.startsWith('user:')) return a.slice(5);
  return a;
}

/** usageLevel classifies a utilisation percentage for its bar colour. */
export function usageLevel(v: number | null | undefined): 'success' | 'warning' | 'danger' | 'secondary' {
  if (v == null || !Number.isFinite(v)) return 'secondary';
  if (v >= 90) return 'danger';
  if (v >= 75) return 'warning';
  return 'success';
}

/** eventLabel turns an event type ("cml.worker.paused.v1") into words ("paused"). */
export function eventLabel(type: string): string {
  const m = /^cml\.(?:worker|lab|settings)\.([a-z_]+)\.v\d+$/.exec(type);
  return (m ? m[1] : type).replace(/_/g, ' ');
}
