// Tasks as the cluster stores them: what the leader decides (`tasks`: slot, node, desired state,
// the container spec it runs and its addresses) and what the node running it observes
// (`task-status`: state, container, exit code). States and their order are Docker's.
import type { PortConfig, ServiceSpec } from './service.js';

export const TASK_STATES = ['new', 'allocated', 'pending', 'assigned', 'accepted', 'preparing', 'ready', 'starting', 'running', 'complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned'] as const;
export type TaskState = (typeof TASK_STATES)[number];
export type DesiredState = 'running' | 'shutdown' | 'remove';

export interface TaskStatus {
  state: TaskState;
  /** Docker's Status.Message: what happened last ("started", "pending task scheduling"). */
  message: string;
  /** Docker's Status.Err: why it failed or cannot be placed. */
  err?: string;
  timestamp: string;
  containerId?: string;
  pid?: number;
  exitCode?: number;
}

export interface TaskRecord {
  id: string;
  serviceId: string;
  serviceName: string;
  /** Replicated services: 1..N. Global services have none (one task per node). */
  slot?: number;
  /** Empty while pending: no node could be chosen. */
  nodeId: string;
  desiredState: DesiredState;
  /** What to run, copied from the service spec it was made for. */
  spec: ServiceSpec['TaskTemplate'];
  /** The service spec's UpdatedAt this task was made for: a newer spec replaces it. */
  specUpdatedAt: string;
  /** The service's X-Registry-Auth when the task was made: what its node pulls the image with. */
  registryAuth?: string;
  /**
   * Host-mode published ports the task binds on its node (Docker's task Endpoint), copied from the
   * service's when the task is made: what the scheduler keeps apart and the node programs.
   */
  hostPorts?: PortConfig[];
  /** Addresses on the service's networks, with prefix (10.0.1.5/24). */
  networks: { networkId: string; addr: string }[];
  /**
   * Set by the leader when the task ended by itself: when its slot gets a new task (restart policy
   * delay), or why it gets none (policy none, attempts used up). Unset when the leader stopped it
   * (scale, drain, update, its node died): then the replacement comes at once.
   */
  restart?: { at: string } | { never: string };
  /** The leader's view of the status, until the node writes its own (task-status). */
  status: TaskStatus;
  createdAt: string;
  updatedAt: string;
}

/** Written by the node that runs the task (task-status). */
export interface TaskStatusRecord extends TaskStatus {
  id: string;
  nodeId: string;
}

const ORDER = new Map(TASK_STATES.map((s, i) => [s, i] as const));

export function stateIndex(s: TaskState): number {
  return ORDER.get(s) ?? 0;
}

/** Complete, shutdown, failed, rejected, remove or orphaned: the task will not run again. */
export function isTerminal(s: TaskState): boolean {
  return stateIndex(s) > stateIndex('running');
}

/** The status to show and act on: the node's own once it has written one for this assignment. */
export function effectiveStatus(task: TaskRecord, status: TaskStatusRecord | undefined): TaskStatus {
  return status && status.nodeId === task.nodeId ? status : task.status;
}

/** Container name as Swarm names it. */
export function taskName(t: Pick<TaskRecord, 'serviceName' | 'slot' | 'nodeId' | 'id'>): string {
  return `${t.serviceName}.${t.slot ?? t.nodeId}.${t.id}`;
}

export function parseTask(v: unknown): TaskRecord {
  const t = v as Partial<TaskRecord>;
  if (typeof t?.id !== 'string' || typeof t.serviceId !== 'string' || typeof t.serviceName !== 'string' || typeof t.nodeId !== 'string') throw new Error('task needs id, serviceId, serviceName and nodeId');
  if (!['running', 'shutdown', 'remove'].includes(t.desiredState as string) || typeof t.spec !== 'object' || !Array.isArray(t.networks) || !ORDER.has(t.status?.state as TaskState)) throw new Error('task needs desiredState, spec, networks and status');
  return t as TaskRecord;
}

export function parseTaskStatus(v: unknown): TaskStatusRecord {
  const s = v as Partial<TaskStatusRecord>;
  if (typeof s?.id !== 'string' || typeof s.nodeId !== 'string' || !ORDER.has(s.state as TaskState) || typeof s.timestamp !== 'string') throw new Error('task status needs id, nodeId, state and timestamp');
  return s as TaskStatusRecord;
}
