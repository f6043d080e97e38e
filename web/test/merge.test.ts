import { describe, expect, it } from 'vitest';
import { backoff, newer, parseLiveMessage, VersionedMap } from '../src/merge';

type W = { id: string; version: number; status: string };

describe('VersionedMap', () => {
  it('never lets an older version overwrite a newer one', () => {
    const m = new VersionedMap<W>();
    expect(m.merge({ id: 'a', version: 3, status: 'running' })).toBe(true);
    expect(m.merge({ id: 'a', version: 2, status: 'pending' })).toBe(false);
    expect(m.get('a')!.status).toBe('running');
    expect(m.merge({ id: 'a', version: 4, status: 'stopping' })).toBe(true);
    expect(m.get('a')!.status).toBe('stopping');
  });
  it('accepts an equal version with different data (fresher decorations) and ignores identical ones', () => {
    const m = new VersionedMap<W>();
    m.merge({ id: 'a', version: 1, status: 'running' });
    expect(m.merge({ id: 'a', version: 1, status: 'running' })).toBe(false);
    expect(m.merge({ id: 'a', version: 1, status: 'running', metrics: 1 } as W)).toBe(true);
  });
  it('keeps a newer live version when a stale REST listing arrives', () => {
    const m = new VersionedMap<W>();
    m.merge({ id: 'a', version: 5, status: 'stopped' });
    const changed = m.replaceAll([{ id: 'a', version: 4, status: 'running' }, { id: 'b', version: 1, status: 'pending' }]);
    expect(m.get('a')!.version).toBe(5);
    expect(changed.has('b')).toBe(true);
    expect(changed.has('a')).toBe(false);
  });
  it('drops ids missing from a full listing', () => {
    const m = new VersionedMap<W>();
    m.merge({ id: 'a', version: 1, status: 'x' });
    const changed = m.replaceAll([]);
    expect(m.size).toBe(0);
    expect(changed.has('a')).toBe(true);
  });
  it('does not resurrect a removed id with a late update', () => {
    const m = new VersionedMap<W>();
    m.merge({ id: 'a', version: 1, status: 'running' });
    expect(m.remove('a', 2)).toBe(true);
    expect(m.merge({ id: 'a', version: 2, status: 'running' })).toBe(false);
    expect(m.merge({ id: 'a', version: 3, status: 'running' })).toBe(true);
  });
  it('applies out-of-order deliveries to the newest', () => {
    const m = new VersionedMap<W>();
    const updates = [5, 2, 7, 6, 1, 7, 3].map((v) => ({ id: 'x', version: v, status: `s${v}` }));
    for (const u of updates) m.merge(u);
    expect(m.get('x')!.status).toBe('s7');
  });
  it('newer treats a missing current as newer', () => expect(newer(undefined, { id: 'a', version: 0 })).toBe(true));
});

describe('parseLiveMessage', () => {
  it('reads the documented envelope', () => {
    expect(parseLiveMessage('{"type":"worker.updated","data":{"id":"a","version":2}}')).toEqual({ type: 'worker.updated', data: { id: 'a', version: 2 } });
  });
  it('tolerates named payload keys', () => {
    expect(parseLiveMessage('{"type":"lab.updated","lab":{"id":"l"}}')!.data).toEqual({ id: 'l' });
  });
  it('ignores garbage', () => {
    expect(parseLiveMessage('nope')).toBeNull();
    expect(parseLiveMessage('{"data":1}')).toBeNull();
    expect(parseLiveMessage('42')).toBeNull();
  });
});

describe('backoff', () => {
  it('grows exponentially with jitter and is capped', () => {
    expect(backoff(0, 0.5)).toBe(500);
    expect(backoff(1, 0.5)).toBe(1000);
    expect(backoff(3, 0.5)).toBe(4000);
    expect(backoff(20, 0.5)).toBe(30000);
    expect(backoff(20, 1)).toBe(30000);
    expect(backoff(2, 0)).toBe(1600);
    expect(backoff(2, 1)).toBe(2400);
  });
});
