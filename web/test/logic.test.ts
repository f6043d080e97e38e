import { describe, expect, it } from 'vitest';
import { consoleUrl, filterWorkers, idleInfo, lastAction, parseTags, provisioningTimeline, sessionWarning, sortWorkers } from '../src/logic';
import type { WorkerEvent } from '../src/types';
import { worker } from './fixtures';

const T = (s: string) => `2025-01-01T10:${s}Z`;
const stepEvent = (v: number, step: string, time: string): WorkerEvent => ({
  id: `e${v}`, type: 'cml.worker.provisioning_step_started.v1', aggregateType: 'worker', aggregateId: 'w', version: v, time, actor: 'system:provision', correlationId: '', schemaVersion: 1, data: { step },
});

describe('provisioning timeline', () => {
  it('gives finished steps their elapsed time and the current one its running time', () => {
    const w = worker({ id: 'w', status: 'provisioning', provisioning: { state: 'in-progress', step: 'wait-status-checks', startedAt: T('00:00'), stepStartedAt: T('03:00'), completedAt: null, error: '', failedStep: '' } });
    const rows = provisioningTimeline(w, [stepEvent(2, 'validate', T('00:00')), stepEvent(3, 'launch', T('00:05')), stepEvent(4, 'wait-running', T('00:35')), stepEvent(5, 'wait-status-checks', T('03:00'))], Date.parse(T('04:30')));
    const by = Object.fromEntries(rows.map((r) => [r.id, r]));
    expect(by.validate.state).toBe('done');
    expect(by.validate.elapsedMs).toBe(5000);
    expect(by['wait-running'].elapsedMs).toBe(145_000);
    expect(by['wait-status-checks'].state).toBe('current');
    expect(by['wait-status-checks'].elapsedMs).toBe(90_000);
    expect(by['wait-cml-ready'].state).toBe('pending');
  });
  it('marks the failed step', () => {
    const w = worker({ id: 'w', status: 'failed', provisioning: { state: 'failed', step: 'wait-cml-ready', startedAt: T('00:00'), stepStartedAt: T('01:00'), completedAt: T('02:00'), error: 'timeout', failedStep: 'wait-cml-ready' } });
    const rows = provisioningTimeline(w, [stepEvent(2, 'validate', T('00:00')), stepEvent(3, 'wait-cml-ready', T('01:00'))]);
    expect(rows.find((r) => r.id === 'wait-cml-ready')!.state).toBe('failed');
    expect(rows.find((r) => r.id === 'wait-cml-ready')!.elapsedMs).toBe(60_000);
  });
  it('completes with skipped steps (no licence)', () => {
    const w = worker({ id: 'w', provisioning: { state: 'completed', step: 'ready', startedAt: T('00:00'), stepStartedAt: T('05:00'), completedAt: T('05:00'), error: '', failedStep: '' } });
    const rows = provisioningTimeline(w, [stepEvent(2, 'validate', T('00:00')), stepEvent(3, 'wait-cml-ready', T('01:00')), stepEvent(4, 'ready', T('05:00'))]);
    expect(rows.find((r) => r.id === 'register-license')!.state).toBe('skipped');
    expect(rows.find((r) => r.id === 'ready')!.state).toBe('done');
  });
});

describe('idle countdown', () => {
  it('counts down to pauseAt once warned', () => {
    const i = idleInfo(worker({ id: 'w', idle: { policy: null, lastActivityAt: null, idleSince: T('00:00'), warningIssuedAt: T('50:00'), pauseAt: T('59:00') } }));
    expect(i.kind).toBe('pausing');
    expect(i.pauseAt).toBe(Date.parse(T('59:00')));
  });
  it('derives the deadline from idleSince and the policy', () => {
    const pol = { enabled: true, timeoutMinutes: 30, warningMinutes: 5, snoozeMinutes: 60 };
    const i = idleInfo(worker({ id: 'w', idle: { policy: pol, lastActivityAt: null, idleSince: T('00:00'), warningIssuedAt: null, pauseAt: null } }));
    expect(i).toEqual({ kind: 'idle', pauseAt: Date.parse(T('30:00')), idleSince: Date.parse(T('00:00')) });
    const fleet = idleInfo(worker({ id: 'w', idle: { policy: null, lastActivityAt: null, idleSince: T('00:00'), warningIssuedAt: null, pauseAt: null } }), { ...pol, timeoutMinutes: 10 });
    expect(fleet.pauseAt).toBe(Date.parse(T('10:00')));
  });
  it('is off when the policy is disabled and n/a when not running', () => {
    expect(idleInfo(worker({ id: 'w', idle: { policy: { enabled: false, timeoutMinutes: 1, warningMinutes: 0, snoozeMinutes: 0 }, lastActivityAt: null, idleSince: null, warningIssuedAt: null, pauseAt: null } })).kind).toBe('off');
    expect(idleInfo(worker({ id: 'w', status: 'stopped' })).kind).toBe('n/a');
  });
});

describe('fleet table', () => {
  const list = [
    worker({ id: 'a', name: 'bravo', region: 'eu-west-1', metrics: { cpuPercent: 50, memoryPercent: 1, diskPercent: 1, runningNodes: 3, labCount: 1, at: T('00:00') } }),
    worker({ id: 'b', name: 'alpha', status: 'stopped', tags: { team: 'netops' }, metrics: null }),
    worker({ id: 'c', name: 'charlie', instanceId: 'i-0abc', metrics: { cpuPercent: 90, memoryPercent: 1, diskPercent: 1, runningNodes: 10, labCount: 2, at: T('00:00') } }),
  ];
  it('filters by region, status and text (name, instance id, tags)', () => {
    expect(filterWorkers(list, { text: '', region: 'eu-west-1', status: '' }).map((w) => w.id)).toEqual(['a']);
    expect(filterWorkers(list, { text: '', region: '', status: 'stopped' }).map((w) => w.id)).toEqual(['b']);
    expect(filterWorkers(list, { text: 'i-0ab', region: '', status: '' }).map((w) => w.id)).toEqual(['c']);
    expect(filterWorkers(list, { text: 'team=net', region: '', status: '' }).map((w) => w.id)).toEqual(['b']);
  });
  it('sorts by name and by usage, unknowns last when descending', () => {
    expect(sortWorkers(list, 'name', 'asc').map((w) => w.name)).toEqual(['alpha', 'bravo', 'charlie']);
    expect(sortWorkers(list, 'cpu', 'desc').map((w) => w.id)).toEqual(['c', 'a', 'b']);
    expect(sortWorkers(list, 'nodes', 'asc').map((w) => w.id)).toEqual(['b', 'a', 'c']);
  });
  it('tells the last action and who', () => {
    const w = worker({ id: 'x', activity: { ...worker({ id: 'y' }).activity, lastPausedAt: T('10:00'), lastPausedBy: 'system:idle', lastPauseAuto: true, lastResumedAt: T('05:00'), lastResumedBy: 'alice' } });
    expect(lastAction(w)).toEqual({ what: 'auto-paused', by: 'system:idle', at: T('10:00') });
    expect(lastAction(worker({ id: 'z' })).what).toBe('created');
  });
});

describe('helpers', () => {
  it('warns 10 minutes before the session expires', () => {
    const now = Date.parse(T('00:00'));
    expect(sessionWarning(T('20:00'), now).warn).toBe(false);
    expect(sessionWarning(T('09:00'), now)).toEqual({ warn: true, leftMs: 540_000 });
    expect(sessionWarning(null, now).warn).toBe(false);
  });
  it('parses tags and refuses managed ones', () => {
    expect(parseTags('team = netops\n\ncourse=ccnp=2')).toEqual({ tags: { team: 'netops', course: 'ccnp=2' }, error: '' });
    expect(parseTags('oops').error).toMatch(/Line 1/);
    expect(parseTags('cmlcm:worker=x').error).toMatch(/managed/);
  });
  it('links to the AWS console', () => {
    expect(consoleUrl('eu-west-1', 'instance', 'i-1')).toBe('https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1#InstanceDetails:instanceId=i-1');
    expect(consoleUrl('', 'ami', 'ami-1')).toContain('us-east-1');
  });
});
