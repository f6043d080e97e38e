// Representations of the REST API (camelCase JSON), as internal/fleet and
// internal/worker return them. Every key of a worker is always present;
// unknown strings are "" and unknown times null.

export type Status =
  | 'provisioning' | 'pending' | 'running' | 'stopping' | 'stopped'
  | 'shutting-down' | 'terminated' | 'failed';

export const STATUSES: Status[] = [
  'provisioning', 'pending', 'running', 'stopping', 'stopped', 'shutting-down', 'terminated', 'failed',
];

export interface IdlePolicy {
  enabled: boolean;
  timeoutMinutes: number;
  warningMinutes: number;
  snoozeMinutes: number;
  cpuThresholdPercent?: number | null;
}

export interface Wakeup { days: string[]; at: string }
export interface Schedule { timezone: string; wakeups: Wakeup[] }

export interface Metrics {
  cpuPercent: number | null;
  memoryPercent: number | null;
  diskPercent: number | null;
  runningNodes: number | null;
  labCount: number | null;
  at: string;
}

export interface Worker {
  id: string;
  name: string;
  region: string;
  instanceType: string;
  amiId: string;
  amiName: string;
  status: Status;
  desiredPower: 'running' | 'stopped' | 'terminated' | '';
  instanceId: string;
  publicIp: string;
  privateIp: string;
  endpoint: string;
  imported: boolean;
  tags: Record<string, string>;
  cml: {
    ready: boolean;
    version: string;
    licenseStatus: string;
    serviceStatus: string;
    licenseTokenConfigured: boolean;
    licenseOperation: string;
    licenseError: string;
    observedAt: string | null;
  };
  idle: {
    policy: IdlePolicy | null;
    lastActivityAt: string | null;
    idleSince: string | null;
    warningIssuedAt: string | null;
    pauseAt: string | null;
  };
  provisioning: {
    state: string;
    step: string;
    startedAt: string | null;
    stepStartedAt: string | null;
    completedAt: string | null;
    error: string;
    failedStep: string;
  };
  ec2: {
    state: string;
    observedAt: string | null;
    reason: string;
    systemStatus: string;
    instanceStatus: string;
    runningSince: string | null;
  };
  activity: {
    autoPauseCount: number;
    manualPauseCount: number;
    autoResumeCount: number;
    manualResumeCount: number;
    lastPausedAt: string | null;
    lastPausedBy: string;
    lastPauseReason: string;
    lastPauseAuto: boolean;
    lastPauseIdleMinutes: number;
    lastResumedAt: string | null;
    lastResumedBy: string;
    lastResumeReason: string;
    lastResumeAuto: boolean;
  };
  schedule: Schedule | null;
  createdAt: string | null;
  createdBy: string;
  updatedAt: string | null;
  terminatedAt: string | null;
  terminatedBy: string;
  version: number;
  metrics: Metrics | null;
  costPerHour: number;
  pricePerHour: number;
}

export interface Lab {
  id: string; // CML's lab id
  workerId: string;
  labId: string;
  title: string;
  description: string;
  state: string;
  owner: string;
  nodeCount: number;
  linkCount: number;
  createdAt: string | null;
  modifiedAt: string | null;
  updatedAt?: string | null;
  version: number;
}

export interface Page<T> { items: T[]; next: string }

export interface WorkerEvent {
  id: string;
  type: string;
  aggregateType: string;
  aggregateId: string;
  version: number;
  time: string;
  actor: string;
  correlationId: string;
  schemaVersion: number;
  data: Record<string, unknown>;
}

export interface Sample {
  workerId: string;
  at: string;
  cpuPercent: number | null;
  memoryPercent: number | null;
  diskPercent: number | null;
  runningNodes: number | null;
  labCount: number | null;
}

export interface MetricsResponse { workerId: string; from: string; to: string; samples: Sample[] }

export interface Savings { from: string; hours: number; dollars: number; autoPauses: number }

export interface FleetSummary {
  at: string;
  total: number;
  byStatus: Record<string, number>;
  runningCostPerHour: number;
  savings: { today: Savings; thisMonth: Savings };
  orphans?: number;
}

export interface Principal {
  subject: string;
  username: string;
  email: string;
  name: string;
  roles: string[];
  issuer: string;
  expiresAt: string | null;
  csrfToken?: string;
}

export interface SettingsValues {
  provisioning: {
    amis: Record<string, { id?: string; name?: string }>;
    instanceType: string;
    subnets: Record<string, string[]>;
    securityGroups: Record<string, string[]>;
    keyPairName: string;
    rootVolumeGiB: number;
    instanceProfile: string;
    keepFailedInstance: boolean;
    timeouts: Record<string, number>;
  };
  intervals: { metricsSeconds: number; labsRefreshSeconds: number; idleCheckSeconds: number; discoverySeconds: number };
  discovery: { enabled: boolean; regions: string[]; tagKey: string; tagValue: string; amiNamePattern: string };
  idlePolicy: IdlePolicy;
  prices: Record<string, number>;
  telemetryRetentionDays: number;
  license: { pollSeconds: number; timeoutSeconds: number };
}

export interface Settings extends SettingsValues {
  updatedAt: string | null;
  updatedBy: string;
  version: number;
}

export interface Candidate {
  instanceId: string; name: string; state: string; instanceType: string; amiId: string; publicIp: string;
  tags: Record<string, string>;
}
export interface ImportResult {
  preview: boolean;
  candidates: Candidate[];
  imported: Worker[];
  skipped: { instanceId: string; reason: string; workerId?: string }[];
}
