import { describe, expect, it } from 'vitest';
import { actor, countdown, duration, eventLabel, hours, money, percent, perHour, relative, usageLevel } from '../src/format';

describe('money', () => {
  it('formats dollars with two decimals', () => {
    expect(money(3.964 * 10)).toBe('$39.64');
    expect(money(1234.5)).toBe('$1,234.50');
    expect(money(0)).toBe('$0.00');
  });
  it('keeps three decimals below a dollar', () => expect(money(0.123)).toBe('$0.123'));
  it('shows a dash for unknown values', () => {
    expect(money(null)).toBe('—');
    expect(money(Number.NaN)).toBe('—');
  });
  it('formats hourly prices', () => {
    expect(perHour(3.964)).toBe('$3.964/h');
    expect(perHour(4)).toBe('$4.00/h');
    expect(perHour(0.5)).toBe('$0.50/h');
    expect(perHour(undefined)).toBe('—');
  });
  it('formats hours', () => {
    expect(hours(12.34)).toBe('12.3 h');
    expect(hours(250.4)).toBe('250 h');
  });
});

describe('durations and countdowns', () => {
  it.each([
    [0, '0s'], [45_000, '45s'], [185_000, '3m 05s'], [2 * 3600_000 + 7 * 60_000, '2h 07m'], [3 * 86400_000 + 4 * 3600_000, '3d 4h'], [-61_000, '1m 01s'],
  ])('duration(%d) = %s', (ms, want) => expect(duration(ms)).toBe(want));

  it('counts down to a deadline', () => {
    const now = Date.parse('2025-01-01T10:00:00Z');
    expect(countdown('2025-01-01T10:04:05Z', now)).toBe('4:05');
    expect(countdown(now + 3600_000 + 61_000, now)).toBe('1:01:01');
    expect(countdown(new Date(now + 500), now)).toBe('0:01');
  });
  it('never goes below zero and ignores unset deadlines', () => {
    const now = Date.now();
    expect(countdown(now - 10_000, now)).toBe('0:00');
    expect(countdown(null, now)).toBe('');
    expect(countdown('not a date', now)).toBe('');
  });
  it('tells relative times', () => {
    const now = Date.parse('2025-01-01T10:00:00Z');
    expect(relative('2025-01-01T09:57:00Z', now)).toBe('3m 00s ago');
    expect(relative('2025-01-01T12:05:00Z', now)).toBe('in 2h 05m');
    expect(relative('2025-01-01T10:00:02Z', now)).toBe('just now');
    expect(relative(null, now)).toBe('—');
  });
});

describe('misc', () => {
  it('formats percentages', () => {
    expect(percent(41.6)).toBe('42%');
    expect(percent(null)).toBe('—');
  });
  it('classifies usage like the old UI (≥90 red)', () => {
    expect(usageLevel(95)).toBe('danger');
    expect(usageLevel(80)).toBe('warning');
    expect(usageLevel(10)).toBe('success');
    expect(usageLevel(null)).toBe('secondary');
  });
  it('names actors', () => {
    expect(actor('system:idle')).toBe('automation (idle)');
    expect(actor('admin')).toBe('admin');
    expect(actor('')).toBe('—');
  });
  it('names event types', () => {
    expect(eventLabel('cml.worker.provisioning_step_started.v1')).toBe('provisioning step started');
    expect(eventLabel('custom')).toBe('custom');
  });
});
