// API errors in words. The API answers errors as RFC 9457
// application/problem+json; anything else (a proxy's HTML page, a network
// failure) still becomes a sentence.

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  instance?: string;
  requestId?: string;
  field?: string;
}

/** ApiError is what every failed API call throws. */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;
  constructor(status: number, problem: Problem, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
  }
  /** slug is the last segment of the problem type URI ("illegal-transition"). */
  get slug(): string { return problemSlug(this.problem.type); }
}

export function problemSlug(type: string | undefined): string {
  if (!type || type === 'about:blank') return '';
  const i = type.lastIndexOf('/');
  return i >= 0 ? type.slice(i + 1) : type;
}

const STATUS_WORDS: Record<number, string> = {
  400: 'The request is invalid',
  401: 'You are not signed in (or your session has expired)',
  403: 'Your role does not allow this',
  404: 'Not found',
  409: 'This conflicts with the current state',
  413: 'The request is too large',
  415: 'The request has an unsupported format',
  429: 'Too many requests; try again shortly',
  500: 'The server failed',
  502: 'A service the API depends on failed',
  503: 'The service is unavailable',
  504: 'The server timed out',
};

/**
 * problemMessage turns a problem into one sentence for people: the title
 * (or the status in words), then the detail, naming the field at fault.
 */
export function problemMessage(status: number, p: Problem | null | undefined): string {
  const title = (p?.title || STATUS_WORDS[status] || (status ? `Request failed (HTTP ${status})` : 'Request failed')).replace(/\.$/, '');
  let detail = (p?.detail ?? '').trim();
  if (detail && p?.field && !detail.toLowerCase().startsWith(p.field.toLowerCase())) {
    detail = `${p.field} ${detail}`;
  }
  if (!detail || detail.toLowerCase() === title.toLowerCase()) return `${title}.`;
  return `${title}: ${detail.replace(/\.$/, '')}.`;
}

/**
 * errorFromResponse reads a failed response into an ApiError, whatever its
 * body: problem+json, other JSON with a message, text, or nothing.
 */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  let p: Problem = {};
  const ct = res.headers.get('content-type') ?? '';
  try {
    if (ct.includes('json')) {
      const body = await res.json();
      if (body && typeof body === 'object') {
        p = body as Problem;
        const b = body as Record<string, unknown>;
        if (!p.detail && typeof b.message === 'string') p.detail = b.message;
        if (!p.detail && typeof b.error === 'string') p.detail = b.error;
      }
    } else {
      const text = (await res.text()).trim();
      if (text && text.length < 300 && !text.startsWith('<')) p.detail = text;
    }
  } catch {
    // an unreadable body leaves the status to speak
  }
  if (!p.status) p.status = res.status;
  return new ApiError(res.status, p, problemMessage(res.status, p));
}

/** networkError is the ApiError of a request that got no answer. */
export function networkError(err: unknown): ApiError {
  const detail = err instanceof Error ? err.message : String(err);
  return new ApiError(0, { title: 'The server could not be reached', detail }, `The server could not be reached: ${detail}.`);
}

/** messageOf gives any thrown value as a sentence. */
export function messageOf(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
