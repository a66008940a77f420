// Who may do what in etcd: etcd's RBAC with users named after certificate CNs (node IDs), since etcd
// takes the user from the client certificate when no password or token is sent. Managers get the root
// role; each worker gets a shared read role (cluster objects and every node's status) plus a role of
// its own that may write only under /shoal/nodes/<its id>/. Everything else (secrets, allocations,
// elections, membership, auth) is the managers' alone.
import type { Etcd3 } from 'etcd3';
import { EtcdRoleExistsError, EtcdRoleNotFoundError, EtcdRoleNotGrantedError, EtcdUserExistsError, EtcdUserNotFoundError } from 'etcd3';
import { NODES_PREFIX, OBJECTS_PREFIX, nodePrefix, prefixEnd } from './keys.js';

export const ROOT_USER = 'root';
export const ROOT_ROLE = 'root';
/** Read access every worker has. */
export const WORKER_ROLE = 'shoal-worker';

/** The role that lets one worker write its own prefix. */
export function nodeRole(nodeId: string): string {
  nodePrefix(nodeId); // validates
  return `shoal-node-${nodeId}`;
}

/** The permissions of the worker roles, as data (what the tests check etcd enforces). */
export function workerPermissions(nodeId: string): Array<{ role: string; type: 'Read' | 'Readwrite'; prefix: string }> {
  return [
    { role: WORKER_ROLE, type: 'Read', prefix: OBJECTS_PREFIX },
    { role: WORKER_ROLE, type: 'Read', prefix: NODES_PREFIX },
    { role: nodeRole(nodeId), type: 'Readwrite', prefix: nodePrefix(nodeId) },
  ];
}

async function ignoring<T>(p: Promise<T>, ...kinds: Array<new (...a: never[]) => Error>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (kinds.some((k) => err instanceof k)) return undefined;
    throw err;
  }
}

async function ensureUser(client: Etcd3, name: string): Promise<void> {
  // No password: the user can only be the CN of a certificate our CA signed.
  await ignoring(client.auth.userAdd({ name, password: '', options: { no_password: true } }), EtcdUserExistsError);
}

async function ensureRole(client: Etcd3, role: string): Promise<void> {
  await ignoring(client.auth.roleAdd({ name: role }), EtcdRoleExistsError);
}

async function grant(client: Etcd3, user: string, role: string): Promise<void> {
  await client.auth.userGrantRole({ user, role });
}

async function revoke(client: Etcd3, user: string, role: string): Promise<void> {
  await ignoring(client.auth.userRevokeRole({ name: user, role }), EtcdRoleNotGrantedError, EtcdUserNotFoundError, EtcdRoleNotFoundError);
}

async function ensureWorkerRoles(client: Etcd3, nodeId: string): Promise<void> {
  for (const p of workerPermissions(nodeId)) {
    await ensureRole(client, p.role);
    await client.auth.roleGrantPermission({ name: p.role, perm: { permType: p.type, key: Buffer.from(p.prefix), range_end: prefixEnd(p.prefix) } });
  }
}

/** The roles a user holds; undefined when there is no such user. */
export async function userRoles(client: Etcd3, nodeId: string): Promise<string[] | undefined> {
  const res = await ignoring(client.auth.userGet({ name: nodeId }), EtcdUserNotFoundError);
  return res ? [...res.roles].sort() : undefined;
}

/**
 * On a new cluster, by its first manager before anyone else connects: the root user, a root-role user
 * for each manager CN (the caller's own included, or it locks itself out), then auth on. Safe to run
 * again.
 */
export async function bootstrapAuth(client: Etcd3, managerIds: readonly string[]): Promise<void> {
  if (managerIds.length === 0) throw new Error('bootstrapAuth needs the first manager\'s node ID, or nobody could manage etcd once auth is on');
  // etcd's root role exists implicitly; `auth enable` requires a user named root holding it.
  await ensureUser(client, ROOT_USER);
  await grant(client, ROOT_USER, ROOT_ROLE);
  for (const id of managerIds) await addManagerUser(client, id);
  await client.auth.authEnable();
}

/** A manager: a user named after its CN with the root role. Any worker roles it had are revoked. */
export async function addManagerUser(client: Etcd3, nodeId: string): Promise<void> {
  nodePrefix(nodeId);
  await ensureUser(client, nodeId);
  await grant(client, nodeId, ROOT_ROLE);
  await revoke(client, nodeId, WORKER_ROLE);
  await revoke(client, nodeId, nodeRole(nodeId));
  await ignoring(client.auth.roleDelete({ role: nodeRole(nodeId) }), EtcdRoleNotFoundError);
}

/** A worker: read on objects and nodes, read-write on its own node prefix. Root is revoked (so this is
 * also the demotion; it applies on the user's next request, even on an open connection). */
export async function addWorkerUser(client: Etcd3, nodeId: string): Promise<void> {
  await ensureWorkerRoles(client, nodeId);
  await ensureUser(client, nodeId);
  await grant(client, nodeId, WORKER_ROLE);
  await grant(client, nodeId, nodeRole(nodeId));
  await revoke(client, nodeId, ROOT_ROLE);
}

export const promoteUser = addManagerUser;
export const demoteUser = addWorkerUser;

/** A node that left: its user and its own role are deleted (false if it had no user). */
export async function removeUser(client: Etcd3, nodeId: string): Promise<boolean> {
  const gone = await ignoring(client.auth.userDelete({ name: nodeId }), EtcdUserNotFoundError);
  await ignoring(client.auth.roleDelete({ role: nodeRole(nodeId) }), EtcdRoleNotFoundError);
  return gone !== undefined;
}
