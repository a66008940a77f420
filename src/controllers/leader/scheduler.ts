// The leader's orchestrator and scheduler in one pass: for every service, the tasks its mode asks
// for (slots 1..N for replicated, one per eligible node for global); tasks that ended by themselves
// replaced as the restart policy says; tasks of dead, drained or no longer matching nodes replaced
// at once; outdated tasks replaced a batch at a time (stop-first); pending tasks placed on the
// eligible node with the fewest of the service's tasks, never where a task already holds one of its
// host-mode published ports (Docker's HostPortFilter); history kept to the task-history limit;
// tasks of removed services removed. Task IDs, slots, states and messages are Docker's.
import { newId } from '../../cluster/ids.js';
import type { NodeRecord } from '../../model/node.js';
import { hostModePorts, portKey } from '../../model/ports.js';
import { constraintHolds, parseConstraint, type PortConfig, type ServiceEndpoint, type ServiceRecord } from '../../model/service.js';
import { effectiveStatus, isTerminal, type TaskRecord, type TaskStatus } from '../../model/task.js';
import type { BatchView } from '../cluster-view.js';
import type { AddressBook } from './address-book.js';
import { aloneOnFailure } from './allocator.js';
import { tunables } from '../../config/tunables.js';

const NANOS_PER_MS = 1_000_000;

interface Ctx {
  view: BatchView;
  book: AddressBook;
  now: Date;
  /** When each service last started an update batch (leader memory; a new leader waits one delay at most). */
  updateClock: Map<string, number>;
  /** Host-mode ports held per node (`8080/tcp`), by tasks not yet stopped; built when first needed. */
  hostPortsInUse?: Map<string, Set<string>>;
}

export function schedule(view: BatchView, book: AddressBook, updateClock: Map<string, number>, now = new Date()): void {
  const ctx: Ctx = { view, book, now, updateClock };
  const services = new Map(view.tables.services.list().map((e) => [e.key, e.value]));
  removeOrphanedTasks(ctx, services);
  for (const svc of services.values()) {
    const ep = view.tables.serviceEndpoints.get(svc.id)?.value;
    if (!ep || ep.specUpdatedAt !== svc.updatedAt) continue; // VIPs and ports first
    aloneOnFailure(view, svc, () => ('Replicated' in svc.spec.Mode ? reconcileReplicated(ctx, svc, ep) : reconcileGlobal(ctx, svc, ep)));
  }
  placePending(ctx, services);
  pruneHistory(ctx, services);
}

// ---- reading ----

function tasksOf(ctx: Ctx, serviceId: string): TaskRecord[] {
  return ctx.view.tables.tasks.list().map((e) => e.value).filter((t) => t.serviceId === serviceId);
}

function statusOf(ctx: Ctx, t: TaskRecord): TaskStatus {
  return effectiveStatus(t, ctx.view.tables.taskStatus.get(t.id)?.value);
}

const newestFirst = (a: TaskRecord, b: TaskRecord) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id);

/** Is the task running (or on its way), as far as anyone knows? */
function live(ctx: Ctx, t: TaskRecord): boolean {
  return t.desiredState === 'running' && !isTerminal(statusOf(ctx, t).state);
}

function outdated(t: TaskRecord, svc: ServiceRecord, ep: ServiceEndpoint, ingressId: string | undefined): boolean {
  if (JSON.stringify(t.spec) !== JSON.stringify(svc.spec.TaskTemplate)) return true;
  if (JSON.stringify(t.hostPorts ?? []) !== JSON.stringify(hostModePorts(ep.ports))) return true;
  const wantsIngress = ingressId !== undefined && ep.ports.some((p) => p.PublishMode === 'ingress');
  return wantsIngress !== t.networks.some((n) => n.networkId === ingressId);
}

// ---- nodes ----

type Unfit = 'unavailable' | 'constraints' | 'host-port' | 'max-replicas';

/** Host-mode ports held on each node: by every task placed there that has not stopped yet, whatever its desired state. */
function hostPortsInUse(ctx: Ctx): Map<string, Set<string>> {
  if (ctx.hostPortsInUse) return ctx.hostPortsInUse;
  const used = new Map<string, Set<string>>();
  for (const { value: t } of ctx.view.tables.tasks.list()) {
    if (!t.nodeId || !t.hostPorts?.length || isTerminal(statusOf(ctx, t).state)) continue;
    const set = used.get(t.nodeId) ?? new Set<string>();
    for (const p of t.hostPorts) set.add(portKey(p));
    used.set(t.nodeId, set);
  }
  ctx.hostPortsInUse = used;
  return used;
}

function holdHostPorts(ctx: Ctx, nodeId: string, ports: readonly PortConfig[]): void {
  const used = hostPortsInUse(ctx);
  const set = used.get(nodeId) ?? new Set<string>();
  for (const p of ports) set.add(portKey(p));
  used.set(nodeId, set);
}

/**
 * Why a node may not take a new task (forNew) or keep one. Liveness counts only for new tasks: a
 * running task is replaced when its node is known to be down, never merely because nobody has
 * heard from the node yet (a leader that just started knows nobody).
 */
function unfitReason(ctx: Ctx, n: NodeRecord, svc: ServiceRecord, forNew: boolean): Unfit | undefined {
  if ((forNew && (ctx.view.nodeState(n.id) !== 'ready' || n.availability !== 'active')) || n.availability === 'drain') return 'unavailable';
  const facts = { id: n.id, hostname: n.hostname, role: n.role, labels: n.labels };
  if (!svc.spec.TaskTemplate.Placement.Constraints.every((c) => constraintHolds(parseConstraint(c), facts))) return 'constraints';
  if (forNew) {
    const wanted = hostModePorts(ctx.view.tables.serviceEndpoints.get(svc.id)?.value.ports ?? svc.spec.EndpointSpec.Ports);
    const held = wanted.length > 0 ? hostPortsInUse(ctx).get(n.id) : undefined;
    if (held && wanted.some((p) => held.has(portKey(p)))) return 'host-port';
    const max = svc.spec.TaskTemplate.Placement.MaxReplicas;
    if (max > 0 && tasksOf(ctx, svc.id).filter((t) => t.nodeId === n.id && live(ctx, t)).length >= max) return 'max-replicas';
  }
  return undefined;
}

/** Docker's explanation for a task no node can take. */
function noSuitableNode(reasons: Unfit[]): string {
  const count = (r: Unfit) => reasons.filter((x) => x === r).length;
  const plural = (n: number) => `${n} node${n === 1 ? '' : 's'}`;
  const parts: string[] = [];
  if (count('unavailable')) parts.push(`${plural(count('unavailable'))} not available for new tasks`);
  if (count('constraints')) parts.push(`scheduling constraints not satisfied on ${plural(count('constraints'))}`);
  if (count('host-port')) parts.push(`host-mode port already in use on ${plural(count('host-port'))}`);
  if (count('max-replicas')) parts.push('max replicas per node limit exceed');
  return `no suitable node (${parts.length > 0 ? parts.join('; ') : 'no nodes in the swarm'})`;
}

// ---- writing ----

function put(ctx: Ctx, t: TaskRecord): void {
  ctx.view.tables.tasks.put(t.id, { ...t, updatedAt: ctx.now.toISOString() });
}

function shutdown(ctx: Ctx, t: TaskRecord, message: string, restart?: TaskRecord['restart']): void {
  if (t.desiredState !== 'running') return;
  put(ctx, { ...t, desiredState: 'shutdown', ...(restart ? { restart } : {}), status: t.nodeId ? t.status : { ...t.status, state: 'shutdown', message, timestamp: ctx.now.toISOString() } });
}

function createTask(ctx: Ctx, svc: ServiceRecord, ep: ServiceEndpoint, where: { slot: number } | { nodeId: string }): void {
  const ingressId = ctx.view.tables.networks.list().find((n) => n.value.ingress)?.key;
  const nets = svc.spec.TaskTemplate.Networks.map((n) => n.Target);
  if (ingressId && ep.ports.some((p) => p.PublishMode === 'ingress') && !nets.includes(ingressId)) nets.push(ingressId);
  const networks: TaskRecord['networks'] = [];
  for (const networkId of nets) {
    if (!ctx.book.allocator(networkId)) return; // the network is not allocated yet
  }
  for (const networkId of nets) networks.push({ networkId, addr: ctx.book.allocate(networkId)! });
  const hostPorts = hostModePorts(ep.ports);
  const now = ctx.now.toISOString();
  const task: TaskRecord = {
    id: newId(), serviceId: svc.id, serviceName: svc.spec.Name, ...('slot' in where ? { slot: where.slot } : {}),
    nodeId: 'nodeId' in where ? where.nodeId : '', desiredState: 'running', spec: svc.spec.TaskTemplate, specUpdatedAt: svc.updatedAt, networks,
    ...(svc.registryAuth ? { registryAuth: svc.registryAuth } : {}),
    ...(hostPorts.length > 0 ? { hostPorts } : {}),
    status: 'nodeId' in where ? { state: 'assigned', message: 'scheduler assigned task to node', timestamp: now } : { state: 'pending', message: 'pending task scheduling', timestamp: now },
    createdAt: now, updatedAt: now,
  };
  ctx.view.tables.tasks.put(task.id, task);
  if ('nodeId' in where && hostPorts.length > 0) holdHostPorts(ctx, where.nodeId, hostPorts);
}

// ---- the restart policy ----

/** Decides, for a task that ended by itself, when its slot gets a new one (or that it gets none). */
function restartDecision(ctx: Ctx, svc: ServiceRecord, ended: TaskRecord, history: TaskRecord[]): NonNullable<TaskRecord['restart']> {
  const policy = svc.spec.TaskTemplate.RestartPolicy;
  const st = statusOf(ctx, ended);
  const failed = st.state === 'failed' || st.state === 'rejected';
  if (policy.Condition === 'none') return { never: 'restart policy is none' };
  if (policy.Condition === 'on-failure' && !failed) return { never: 'the task completed and the restart policy is on-failure' };
  if (policy.MaxAttempts > 0) {
    const windowStart = policy.Window > 0 ? ctx.now.getTime() - policy.Window / NANOS_PER_MS : -Infinity;
    const attempts = history.filter((t) => t.restart !== undefined && Date.parse(statusOf(ctx, t).timestamp) >= windowStart).length + 1;
    if (attempts > policy.MaxAttempts) return { never: `restart attempts exhausted (${policy.MaxAttempts})` };
  }
  const endedAt = Math.max(Date.parse(st.timestamp) || ctx.now.getTime(), 0);
  return { at: new Date(endedAt + policy.Delay / NANOS_PER_MS).toISOString() };
}

/**
 * One slot (or one node of a global service): keeps its live task if it may stay, else shuts it
 * down and, when the policy allows, creates the next. Returns true if the slot holds a live task.
 */
function reconcileSlot(ctx: Ctx, svc: ServiceRecord, ep: ServiceEndpoint, tasks: TaskRecord[], where: { slot: number } | { nodeId: string }, mayUpdate: () => boolean): void {
  const history = [...tasks].sort(newestFirst);
  const active = history.filter((t) => t.desiredState === 'running');
  for (const extra of active.slice(1)) shutdown(ctx, extra, 'duplicate task for the slot');
  const current = active[0];
  const ingressId = ctx.view.tables.networks.list().find((n) => n.value.ingress)?.key;
  if (current) {
    const st = statusOf(ctx, current);
    if (isTerminal(st.state)) {
      shutdown(ctx, current, st.message, restartDecision(ctx, svc, current, history.slice(1)));
      return; // the next pass creates the replacement when its time has come
    }
    const node = current.nodeId ? ctx.view.node(current.nodeId) : undefined;
    if (current.nodeId && (!node || ctx.view.nodeState(current.nodeId) === 'down')) return shutdown(ctx, current, 'node is down');
    if (node && unfitReason(ctx, node, svc, false)) return shutdown(ctx, current, node.availability === 'drain' ? 'node is drained' : 'node no longer satisfies the constraints');
    if (outdated(current, svc, ep, ingressId) && mayUpdate()) return shutdown(ctx, current, 'updating to the new service spec');
    return;
  }
  const last = history[0];
  // A slot whose last task is still stopping (stop-first) waits for it.
  if (last && !isTerminal(statusOf(ctx, last).state) && last.nodeId && ctx.view.nodeState(last.nodeId) === 'ready') return;
  if (last?.restart && 'never' in last.restart) return;
  if (last?.restart && 'at' in last.restart && Date.parse(last.restart.at) > ctx.now.getTime()) return;
  createTask(ctx, svc, ep, where);
}

function updateGate(ctx: Ctx, svc: ServiceRecord, tasks: TaskRecord[], ep: ServiceEndpoint): () => boolean {
  const { Parallelism, Delay } = svc.spec.UpdateConfig;
  const ingressId = ctx.view.tables.networks.list().find((n) => n.value.ingress)?.key;
  // Slots busy updating: a new-spec task not yet running.
  let inFlight = tasks.filter((t) => t.desiredState === 'running' && !outdated(t, svc, ep, ingressId) && statusOf(ctx, t).state !== 'running' && !isTerminal(statusOf(ctx, t).state)).length;
  inFlight += tasks.filter((t) => t.desiredState === 'shutdown' && t.specUpdatedAt !== svc.updatedAt && !isTerminal(statusOf(ctx, t).state)).length;
  const last = ctx.updateClock.get(svc.id) ?? 0;
  return () => {
    if (Parallelism > 0 && inFlight >= Parallelism) return false;
    if (Delay > 0 && inFlight === 0 && ctx.now.getTime() - last < Delay / NANOS_PER_MS) return false;
    inFlight++;
    ctx.updateClock.set(svc.id, ctx.now.getTime());
    return true;
  };
}

function reconcileReplicated(ctx: Ctx, svc: ServiceRecord, ep: ServiceEndpoint): void {
  const replicas = 'Replicated' in svc.spec.Mode ? svc.spec.Mode.Replicated.Replicas : 0;
  const tasks = tasksOf(ctx, svc.id);
  const gate = updateGate(ctx, svc, tasks, ep);
  for (let slot = 1; slot <= replicas; slot++) reconcileSlot(ctx, svc, ep, tasks.filter((t) => t.slot === slot), { slot }, gate);
  // Scaling down removes the highest slots.
  for (const t of tasks) if ((t.slot ?? 0) > replicas) shutdown(ctx, t, 'scaled down');
}

function reconcileGlobal(ctx: Ctx, svc: ServiceRecord, ep: ServiceEndpoint): void {
  const tasks = tasksOf(ctx, svc.id);
  const gate = updateGate(ctx, svc, tasks, ep);
  for (const node of ctx.view.nodes()) {
    const mine = tasks.filter((t) => t.nodeId === node.id);
    const reason = unfitReason(ctx, node, svc, mine.every((t) => !live(ctx, t)));
    if (reason === undefined) reconcileSlot(ctx, svc, ep, mine, { nodeId: node.id }, gate);
    else if (reason === 'host-port') continue; // another service's task holds the port there: wait for it to go
    else if (reason !== 'unavailable' || node.availability === 'drain') for (const t of mine) shutdown(ctx, t, reason === 'constraints' ? 'node no longer satisfies the constraints' : 'node is drained');
  }
  for (const t of tasks) if (!ctx.view.node(t.nodeId)) shutdown(ctx, t, 'node was removed');
}

/** Pending tasks go to the eligible node with the fewest tasks of their service, then the fewest overall. */
function placePending(ctx: Ctx, services: Map<string, ServiceRecord>): void {
  const all = ctx.view.tables.tasks.list().map((e) => e.value);
  const load = new Map<string, number>();
  // Live tasks per node, overall and per service, counted once (not per comparison of the sort).
  const perService = new Map<string, Map<string, number>>();
  for (const t of all) {
    if (!t.nodeId || !live(ctx, t)) continue;
    load.set(t.nodeId, (load.get(t.nodeId) ?? 0) + 1);
    const m = perService.get(t.serviceId) ?? new Map<string, number>();
    m.set(t.nodeId, (m.get(t.nodeId) ?? 0) + 1);
    perService.set(t.serviceId, m);
  }
  for (const t of all.filter((x) => x.nodeId === '' && x.desiredState === 'running').sort((a, b) => (a.slot ?? 0) - (b.slot ?? 0))) {
    const svc = services.get(t.serviceId);
    if (!svc) continue;
    const nodes = ctx.view.nodes();
    const reasons: Unfit[] = [];
    const eligible: NodeRecord[] = [];
    for (const n of nodes) {
      const r = unfitReason(ctx, n, svc, true);
      if (r) reasons.push(r);
      else eligible.push(n);
    }
    if (eligible.length === 0) {
      const err = noSuitableNode(reasons);
      if (t.status.err !== err) put(ctx, { ...t, status: { state: 'pending', message: 'pending task scheduling', err, timestamp: ctx.now.toISOString() } });
      continue;
    }
    const mine = perService.get(svc.id) ?? new Map<string, number>();
    perService.set(svc.id, mine);
    const ofService = (n: NodeRecord) => mine.get(n.id) ?? 0;
    eligible.sort((a, b) => ofService(a) - ofService(b) || (load.get(a.id) ?? 0) - (load.get(b.id) ?? 0) || a.id.localeCompare(b.id));
    const chosen = eligible[0]!;
    load.set(chosen.id, (load.get(chosen.id) ?? 0) + 1);
    mine.set(chosen.id, ofService(chosen) + 1);
    if (t.hostPorts?.length) holdHostPorts(ctx, chosen.id, t.hostPorts);
    put(ctx, { ...t, nodeId: chosen.id, status: { state: 'assigned', message: 'scheduler assigned task to node', timestamp: ctx.now.toISOString() } });
  }
}

/** Tasks of removed services: desired remove, and deleted once their node has stopped them (or is gone). */
function removeOrphanedTasks(ctx: Ctx, services: Map<string, ServiceRecord>): void {
  for (const { value: t } of ctx.view.tables.tasks.list()) {
    if (services.has(t.serviceId)) continue;
    if (finished(ctx, t)) ctx.view.tables.tasks.delete(t.id);
    else if (t.desiredState !== 'remove') put(ctx, { ...t, desiredState: 'remove' });
  }
}

/** Stopped for good: terminal on its node, or its node is down or gone (that node cleans up when back). */
function finished(ctx: Ctx, t: TaskRecord): boolean {
  if (!t.nodeId || !ctx.view.node(t.nodeId) || ctx.view.nodeState(t.nodeId) === 'down') return true;
  return isTerminal(statusOf(ctx, t).state);
}

/** Keeps tunables.taskHistoryLimit tasks per slot (per node for global services); tasks of slots past the replica count go once stopped. */
function pruneHistory(ctx: Ctx, services: Map<string, ServiceRecord>): void {
  for (const svc of services.values()) {
    const replicas = 'Replicated' in svc.spec.Mode ? svc.spec.Mode.Replicated.Replicas : undefined;
    const groups = new Map<string, TaskRecord[]>();
    for (const t of tasksOf(ctx, svc.id)) {
      const key = t.slot !== undefined ? `s${t.slot}` : `n${t.nodeId}`;
      groups.set(key, [...(groups.get(key) ?? []), t]);
    }
    for (const group of groups.values()) {
      const sorted = group.sort(newestFirst);
      const beyondScale = replicas !== undefined && (sorted[0]!.slot ?? 0) > replicas;
      sorted.forEach((t, i) => {
        if (t.desiredState === 'running' || !finished(ctx, t)) return;
        if (beyondScale || i >= tunables.taskHistoryLimit) ctx.view.tables.tasks.delete(t.id);
      });
    }
  }
}
