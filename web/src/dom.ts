// A tiny HTML templating helper: interpolations are escaped unless wrapped
// in raw(). Pages render strings into containers and use event delegation.

export class Raw { constructor(readonly html: string) {} }
export const raw = (s: string): Raw => new Raw(s);

export function esc(v: unknown): string {
  if (v == null || v === false) return '';
  return String(v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function part(v: unknown): string {
  if (v instanceof Raw) return v.html;
  if (Array.isArray(v)) return v.map(part).join('');
  return esc(v);
}

/** html builds markup; the result is raw (safe to nest). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Raw {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += part(values[i]) + strings[i + 1];
  return new Raw(out);
}

export function $(sel: string, root: ParentNode = document): HTMLElement | null {
  return root.querySelector(sel) as HTMLElement | null;
}

export function setHTML(el: Element | null, r: Raw | string): void {
  if (el) el.innerHTML = r instanceof Raw ? r.html : r;
}

/** on delegates an event to descendants matching a selector. */
export function on<K extends keyof HTMLElementEventMap>(root: Element | Document, type: K, sel: string,
  fn: (ev: HTMLElementEventMap[K], el: HTMLElement) => void): () => void {
  const h = (ev: Event) => {
    const t = (ev.target as Element | null)?.closest?.(sel) as HTMLElement | null;
    if (t && (root as Element).contains?.(t) !== false) fn(ev as HTMLElementEventMap[K], t);
  };
  root.addEventListener(type, h);
  return () => root.removeEventListener(type, h);
}

let uid = 0;
export const nextId = (p = 'id'): string => `${p}-${++uid}`;
