// The etcd cluster's membership as the managers change it: a new manager joins as a learner (it
// receives the log without voting), is promoted once in sync, and is removed by node ID; plus who the
// members are, which of them vote, who leads Raft and which members answer right now.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3, IMember } from 'etcd3';
import { classifyEtcdError, createEtcdClient, type EtcdClientTls } from './client.js';
import { etcdDefaults } from './tunables.js';

export interface MemberInfo {
  /** etcd's member ID, as a hex string (what etcdctl shows). */
  id: string;
  /** The node ID ('' for a member added but not yet started). */
  name: string;
  role: 'learner' | 'voter';
  peerUrls: string[];
  clientUrls: string[];
  /** False for a member that was added but has not yet started. */
  started: boolean;
}

export class MembershipError extends Error {
  override readonly name = 'MembershipError';
}

export function memberIdHex(id: string | number): string {
  return BigInt(id).toString(16);
}

function toInfo(m: IMember): MemberInfo {
  return {
    id: memberIdHex(m.ID),
    name: m.name,
    role: m.isLearner ? 'learner' : 'voter',
    peerUrls: m.peerURLs ?? [],
    clientUrls: m.clientURLs ?? [],
    started: (m.clientURLs ?? []).length > 0,
  };
}

/** Every member, learners included. */
export async function listMembers(client: Etcd3): Promise<MemberInfo[]> {
  const res = await client.cluster.memberList({});
  return res.members.map(toInfo);
}

/**
 * The --initial-cluster value for a member that was just added: every member by name and peer URL,
 * the new one under `newName` (etcd reports an unstarted member's name as ''), as etcdctl prints it.
 */
export function initialClusterFor(members: ReadonlyArray<Pick<MemberInfo, 'id' | 'name' | 'peerUrls'>>, newId: string, newName: string): string {
  const parts: string[] = [];
  for (const m of members) {
    const name = m.id === newId ? newName : m.name;
    for (const url of m.peerUrls) parts.push(`${name}=${url}`);
  }
  return parts.join(',');
}

export interface AddedLearner {
  member: MemberInfo;
  /** What the new member starts with: --initial-cluster=<this> --initial-cluster-state=existing. */
  initialCluster: string;
}

/** Adds `nodeId` at `peerUrl` as a learner. Start its etcd with the returned initialCluster, then
 * promoteLearner(). etcd refuses changes (UNAVAILABLE 'unhealthy cluster') for ~5 s after the previous
 * one: retried like a promote. Idempotent for a learner that was added but has not started. */
export async function addLearner(client: Etcd3, nodeId: string, peerUrl: string, opts: { retryMs?: number; timeoutMs?: number } = {}): Promise<AddedLearner> {
  const r = await withRetries(`adding ${nodeId} (${peerUrl}) as an etcd learner`, async () => {
    const members = await listMembers(client);
    const existing = members.find((m) => m.name === nodeId || m.peerUrls.includes(peerUrl));
    if (existing) {
      const sameUnstarted = !existing.started && existing.role === 'learner' && existing.peerUrls.includes(peerUrl) && (existing.name === '' || existing.name === nodeId);
      if (!sameUnstarted) throw new MembershipError(`etcd already has a member ${existing.name || '(unstarted)'} at ${existing.peerUrls.join(',')} (id ${existing.id}): remove it first`);
      return { member: { ...existing, name: nodeId }, initialCluster: initialClusterFor(members, existing.id, nodeId) };
    }
    const res = await client.cluster.memberAdd({ peerURLs: [peerUrl], isLearner: true });
    const newId = memberIdHex(res.member.ID);
    return { member: { ...toInfo(res.member), name: nodeId }, initialCluster: initialClusterFor(res.members.map(toInfo), newId, nodeId) };
  }, opts);
  return r.value;
}

/** Whether a refused promote (or member change) is worth retrying: the learner is not yet in sync, or
 * the cluster refuses changes for a few seconds after the previous one, or no leader right now. */
export function promoteRetryable(err: unknown): boolean {
  const msg = err instanceof Error ? err.message : String(err);
  if (/can only promote a learner member which is in sync|unhealthy cluster|FAILED_PRECONDITION/i.test(msg)) return true;
  const kind = classifyEtcdError(err);
  return kind === 'no-leader' || kind === 'unavailable' || kind === 'timeout';
}

/** A member by node ID (its name), member ID, or peer URL (a learner added but not yet started has no name). */
async function findMember(client: Etcd3, nodeIdOrMemberId: string, peerUrl?: string): Promise<MemberInfo | undefined> {
  const members = await listMembers(client);
  return members.find((m) => m.name === nodeIdOrMemberId) ?? members.find((m) => m.id === nodeIdOrMemberId) ?? (peerUrl ? members.find((m) => m.peerUrls.includes(peerUrl)) : undefined);
}

/** Retries `fn` while promoteRetryable, every retryMs, for at most timeoutMs. */
async function withRetries<T>(what: string, fn: () => Promise<T>, opts: { retryMs?: number; timeoutMs?: number }): Promise<{ value: T; attempts: number; ms: number }> {
  const retryMs = opts.retryMs ?? etcdDefaults.promoteRetryMs;
  const timeoutMs = opts.timeoutMs ?? etcdDefaults.promoteTimeoutMs;
  const start = Date.now();
  for (let attempts = 1; ; attempts++) {
    try {
      return { value: await fn(), attempts, ms: Date.now() - start };
    } catch (err) {
      if (!promoteRetryable(err)) throw err;
      if (Date.now() - start + retryMs > timeoutMs) {
        throw new MembershipError(`${what}: still refused after ${attempts} attempts in ${Date.now() - start} ms: ${(err as Error).message}`);
      }
      await sleep(retryMs);
    }
  }
}

/** Promotes the learner named by node ID (or member ID), retrying while it catches up. A voter already:
 * nothing to do. */
export async function promoteLearner(client: Etcd3, nodeIdOrMemberId: string, opts: { retryMs?: number; timeoutMs?: number; peerUrl?: string } = {}): Promise<{ attempts: number; ms: number }> {
  const r = await withRetries(`promoting ${nodeIdOrMemberId} to a voting etcd member`, async () => {
    const m = await findMember(client, nodeIdOrMemberId, opts.peerUrl);
    if (!m) throw new MembershipError(`${nodeIdOrMemberId} is not an etcd member: add it as a learner first`);
    if (m.role === 'voter') return;
    await client.cluster.memberPromote({ ID: BigInt(`0x${m.id}`).toString() });
  }, opts);
  return { attempts: r.attempts, ms: r.ms };
}

/** Removes the member named by node ID (or member ID); false if there is none. Retried while the
 * cluster refuses changes (for ~5 s after the previous one). Its etcd then exits by itself. */
export async function removeMember(client: Etcd3, nodeIdOrMemberId: string, opts: { retryMs?: number; timeoutMs?: number } = {}): Promise<boolean> {
  const r = await withRetries(`removing etcd member ${nodeIdOrMemberId}`, async () => {
    const m = await findMember(client, nodeIdOrMemberId);
    if (!m) return false;
    await client.cluster.memberRemove({ ID: BigInt(`0x${m.id}`).toString() });
    return true;
  }, opts);
  return r.value;
}

export interface EndpointStatus {
  endpoint: string;
  reachable: boolean;
  /** The answering member's ID (hex), its view of the Raft leader (hex), its indexes. */
  memberId?: string;
  leaderId?: string;
  raftIndex?: bigint;
  raftAppliedIndex?: bigint;
  raftTerm?: bigint;
  isLearner?: boolean;
  dbSize?: bigint;
  error?: string;
}

export interface ClusterStatus {
  /** The Raft leader's node ID, as the reachable members see it (undefined: none known). */
  leader: string | undefined;
  members: Array<MemberInfo & { reachable: boolean; isLeader: boolean; status?: EndpointStatus }>;
}

/** status() of one endpoint, with a short deadline: unreachable members answer with reachable false. */
export async function endpointStatus(endpoint: string, tls: EtcdClientTls, deadlineMs = etcdDefaults.statusDeadlineMs): Promise<EndpointStatus> {
  const client = createEtcdClient({ endpoints: [endpoint], tls, callDeadlineMs: deadlineMs, requireLeader: false });
  try {
    const s = await client.maintenance.status({ deadline: Date.now() + deadlineMs });
    return {
      endpoint,
      reachable: true,
      memberId: memberIdHex(s.header.member_id),
      leaderId: s.leader !== undefined && BigInt(s.leader) !== 0n ? memberIdHex(s.leader) : undefined,
      raftIndex: BigInt(s.raftIndex),
      raftAppliedIndex: BigInt(s.raftAppliedIndex),
      raftTerm: BigInt(s.raftTerm),
      isLearner: s.isLearner,
      dbSize: BigInt(s.dbSize),
    };
  } catch (err) {
    return { endpoint, reachable: false, error: (err as Error).message };
  } finally {
    client.close();
  }
}

/** The members (from `client`), each probed on its first client URL (or where `endpointFor` says), and
 * the Raft leader. */
export async function clusterStatus(client: Etcd3, tls: EtcdClientTls, opts: { deadlineMs?: number; endpointFor?: (m: MemberInfo) => string | undefined } = {}): Promise<ClusterStatus> {
  const deadlineMs = opts.deadlineMs ?? etcdDefaults.statusDeadlineMs;
  const members = await listMembers(client);
  const probed = await Promise.all(members.map(async (m) => {
    const url = opts.endpointFor ? opts.endpointFor(m) : m.clientUrls[0];
    const status = url === undefined ? undefined : await endpointStatus(url, tls, deadlineMs);
    return { ...m, status };
  }));
  const leaderId = probed.map((m) => m.status?.leaderId).find((id) => id !== undefined);
  return {
    leader: members.find((m) => m.id === leaderId)?.name,
    members: probed.map((m) => ({
      ...m,
      reachable: m.status?.reachable ?? false,
      isLeader: m.id === leaderId,
      ...(m.status ? { status: m.status } : {}),
    })),
  };
}
