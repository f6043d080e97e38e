import { describe, expect, it } from 'vitest';
import { ApiError, errorFromResponse, messageOf, networkError, problemMessage, problemSlug } from '../src/problem';

const res = (status: number, body: string, ct: string) => new Response(body, { status, headers: { 'Content-Type': ct } });

describe('problem+json → message', () => {
  it('uses title and detail', async () => {
    const e = await errorFromResponse(res(409, JSON.stringify({ type: 'https://cmlcm.dev/problems/illegal-transition', title: 'The resource\'s state does not allow this', status: 409, detail: 'stop worker w1: status stopped cannot be stopped' }), 'application/problem+json'));
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(409);
    expect(e.slug).toBe('illegal-transition');
    expect(e.message).toBe("The resource's state does not allow this: stop worker w1: status stopped cannot be stopped.");
  });
  it('names the field at fault', () => {
    expect(problemMessage(400, { title: 'The request is invalid', detail: 'must be between 1 and 500', field: 'limit' }))
      .toBe('The request is invalid: limit must be between 1 and 500.');
    expect(problemMessage(400, { title: 'The request is invalid', detail: 'name is required', field: 'name' }))
      .toBe('The request is invalid: name is required.');
  });
  it('falls back to the status in words', async () => {
    expect((await errorFromResponse(res(403, '', 'text/plain'))).message).toBe('Your role does not allow this.');
    expect((await errorFromResponse(res(418, '', 'text/plain'))).message).toBe('Request failed (HTTP 418).');
  });
  it('reads plain JSON errors and short text, never HTML pages', async () => {
    expect((await errorFromResponse(res(500, '{"message":"boom"}', 'application/json'))).message).toBe('The server failed: boom.');
    expect((await errorFromResponse(res(502, 'upstream timed out', 'text/plain'))).message).toBe('A service the API depends on failed: upstream timed out.');
    expect((await errorFromResponse(res(502, '<html><body>Bad gateway</body></html>', 'text/html'))).message).toBe('A service the API depends on failed.');
  });
  it('survives a malformed JSON body', async () => {
    expect((await errorFromResponse(res(404, '{not json', 'application/problem+json'))).message).toBe('Not found.');
  });
  it('does not repeat a detail equal to the title', () => {
    expect(problemMessage(503, { title: 'Unavailable', detail: 'unavailable' })).toBe('Unavailable.');
  });
  it('turns network failures and other throwables into sentences', () => {
    expect(networkError(new TypeError('Failed to fetch')).message).toBe('The server could not be reached: Failed to fetch.');
    expect(messageOf(new Error('x'))).toBe('x');
    expect(messageOf('y')).toBe('y');
  });
  it('slugs', () => {
    expect(problemSlug('https://cmlcm.dev/problems/not-found')).toBe('not-found');
    expect(problemSlug('about:blank')).toBe('');
    expect(problemSlug(undefined)).toBe('');
  });
});
