// Who may do what, mirrored from the route table (internal/routes/routes.go);
// a unit test reads routes.go and proves the two agree. Buttons a role may
// not use are hidden; the API stays the authority.

export type Role = 'admin' | 'manager' | 'user';

const ANY: Role[] = ['user', 'manager', 'admin'];
const MANAGER_UP: Role[] = ['manager', 'admin'];
const ADMIN: Role[] = ['admin'];

/** ROUTE_ROLES lists the roles of each role-restricted route, by route name. */
export const ROUTE_ROLES = {
  listWorkers: ANY,
  createWorker: ADMIN,
  importWorkers: ADMIN,
  getWorker: ANY,
  deleteWorker: ADMIN,
  workerEvents: ANY,
  workerMetrics: ANY,
  startWorker: ANY,
  stopWorker: MANAGER_UP,
  refreshWorker: ANY,
  setIdlePolicy: MANAGER_UP,
  setSchedule: MANAGER_UP,
  registerLicense: MANAGER_UP,
  deregisterLicense: MANAGER_UP,
  setTags: ADMIN,
  listLabs: ANY,
  importLab: MANAGER_UP,
  getLab: ANY,
  deleteLab: MANAGER_UP,
  labTopology: ANY,
  startLab: ANY,
  stopLab: ANY,
  wipeLab: MANAGER_UP,
  fleetSummary: ANY,
  getSettings: ADMIN,
  putSettings: ADMIN,
} as const satisfies Record<string, Role[]>;

export type Action = keyof typeof ROUTE_ROLES;

/** can reports whether a person with these roles may call the route. */
export function can(roles: readonly string[] | null | undefined, action: Action): boolean {
  if (!roles || roles.length === 0) return false;
  const allowed: readonly string[] = ROUTE_ROLES[action];
  return roles.some((r) => allowed.includes(r));
}

/** hasAccess: a person with none of our roles sees the "no access" page. */
export function hasAccess(roles: readonly string[] | null | undefined): boolean {
  return !!roles && roles.some((r) => r === 'admin' || r === 'manager' || r === 'user');
}

/** highestRole names the strongest role for the navbar badge. */
export function highestRole(roles: readonly string[] | null | undefined): string {
  for (const r of ['admin', 'manager', 'user']) if (roles?.includes(r)) return r;
  return 'no role';
}
