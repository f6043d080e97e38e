import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { can, hasAccess, highestRole, ROUTE_ROLES, type Action } from '../src/roles';

// The route table is the authority: read internal/routes/routes.go and
// prove the dashboard's copy agrees, route by route.
function goRouteRoles(): Map<string, string[]> {
  const src = readFileSync(fileURLToPath(new URL('../../internal/routes/routes.go', import.meta.url)), 'utf8');
  const groups: Record<string, string[]> = {};
  for (const m of src.matchAll(/(\w+)\s*=\s*\[\]string\{(Role\w+(?:,\s*Role\w+)*)\}/g)) {
    groups[m[1]] = m[2].split(',').map((r) => r.trim().replace(/^Role/, '').toLowerCase());
  }
  const out = new Map<string, string[]>();
  for (const m of src.matchAll(/\{Name: "(\w+)",[^\n]*?Access: (\w+)(?:, Roles: (\w+))?/g)) {
    if (m[2] === 'Roles') out.set(m[1], groups[m[3]]);
  }
  return out;
}

describe('role-based visibility', () => {
  it('mirrors every role-restricted route of internal/routes', () => {
    const go = goRouteRoles();
    expect(go.size).toBeGreaterThan(20);
    for (const [name, roles] of go) {
      expect(ROUTE_ROLES[name as Action], `route ${name} missing from roles.ts`).toBeDefined();
      expect([...ROUTE_ROLES[name as Action]].sort(), `roles of ${name}`).toEqual([...roles].sort());
    }
    expect(Object.keys(ROUTE_ROLES).sort()).toEqual([...go.keys()].sort());
  });
  it('shows admin actions to admins only', () => {
    for (const a of ['createWorker', 'importWorkers', 'deleteWorker', 'setTags', 'getSettings'] as Action[]) {
      expect(can(['admin'], a)).toBe(true);
      expect(can(['manager'], a)).toBe(false);
      expect(can(['user'], a)).toBe(false);
    }
  });
  it('lets managers stop workers and edit idle policies, not users', () => {
    expect(can(['manager'], 'stopWorker')).toBe(true);
    expect(can(['user'], 'stopWorker')).toBe(false);
    expect(can(['user'], 'startWorker')).toBe(true);
    expect(can(['user'], 'setIdlePolicy')).toBe(false);
    expect(can(['user'], 'startLab')).toBe(true);
    expect(can(['user'], 'wipeLab')).toBe(false);
  });
  it('gives a person without a role nothing', () => {
    expect(can([], 'listWorkers')).toBe(false);
    expect(can(undefined, 'listWorkers')).toBe(false);
    expect(can(['guest'], 'listWorkers')).toBe(false);
    expect(hasAccess(['guest'])).toBe(false);
    expect(hasAccess([])).toBe(false);
    expect(hasAccess(['offline_access', 'user'])).toBe(true);
  });
  it('names the highest role', () => {
    expect(highestRole(['user', 'admin'])).toBe('admin');
    expect(highestRole(['manager'])).toBe('manager');
    expect(highestRole([])).toBe('no role');
  });
});
