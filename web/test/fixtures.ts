import type { Worker } from '../src/types';

export function worker(p: Partial<Worker> & { id: string }): Worker {
  const base: Worker = {
    id: p.id, name: p.id, region: 'us-east-1', instanceType: 'm5zn.metal', amiId: 'ami-1', amiName: '', status: 'running', desiredPower: 'running',
    instanceId: 'i-1', publicIp: '', privateIp: '', endpoint: '', imported: false, tags: {},
    cml: { ready: true, version: '2.9.0', licenseStatus: 'registered', serviceStatus: 'available', licenseTokenConfigured: false, licenseOperation: '', licenseError: '', observedAt: null },
    idle: { policy: null, lastActivityAt: null, idleSince: null, warningIssuedAt: null, pauseAt: null },
    provisioning: { state: '', step: '', startedAt: null, stepStartedAt: null, completedAt: null, error: '', failedStep: '' },
    ec2: { state: 'running', observedAt: null, reason: '', systemStatus: 'ok', instanceStatus: 'ok', runningSince: null },
    activity: { autoPauseCount: 0, manualPauseCount: 0, autoResumeCount: 0, manualResumeCount: 0, lastPausedAt: null, lastPausedBy: '', lastPauseReason: '', lastPauseAuto: false, lastPauseIdleMinutes: 0, lastResumedAt: null, lastResumedBy: '', lastResumeReason: '', lastResumeAuto: false },
    schedule: null, createdAt: '2025-01-01T00:00:00Z', createdBy: 'admin', updatedAt: null, terminatedAt: null, terminatedBy: '', version: 1,
    metrics: null, costPerHour: 3.964, pricePerHour: 3.964,
  };
  return { ...base, ...p };
}
