// The task runtime interface: what a node's task controller asks of whatever runs a task's process
// (a Docker container, or a plain process in its own namespaces). Implementations: docker.ts and
// exec.ts; choose.ts picks one per node. A runtime knows containers and processes, not services:
// the controller tells it what to run and how to plumb it, and reads back what happened.
import type { NetnsRef } from '../kernel/netns.js';

export type RuntimeKind = 'docker' | 'exec';

/** Labels on everything a runtime makes, so an agent finds (and cleans) only its own. */
export const LABEL_MANAGED = 'io.shoal.managed';
export const LABEL_NODE = 'io.shoal.node.id';
/** Docker's own swarm labels, so `docker ps --filter label=com.docker.swarm.task.id` works as users expect. */
export const LABEL_TASK = 'com.docker.swarm.task.id';
export const LABEL_TASK_NAME = 'com.docker.swarm.task.name';
export const LABEL_SERVICE_ID = 'com.docker.swarm.service.id';
export const LABEL_SERVICE_NAME = 'com.docker.swarm.service.name';

/** What to run for one task. */
export interface TaskRunSpec {
  /** The task's 25-character ID. */
  taskId: string;
  /** Container name as Swarm names it: `<service>.<slot>.<taskId>` (`<service>.<nodeId>.<taskId>` for global services). */
  name: string;
  serviceId: string;
  serviceName: string;
  /** docker: an image reference. exec: an absolute root filesystem directory, or `host` for the node's own filesystem. */
  image: string;
  /**
   * docker: the X-Registry-Auth value to pull the image with, when the node lacks it (the service's
   * `--with-registry-auth`). exec: ignored (its images are directories; there is no registry).
   */
  registryAuth?: string;
  /** Replaces the image's entrypoint when given. */
  command?: string[];
  /** Arguments (the image's CMD when no command is given). */
  args?: string[];
  /** `KEY=value` entries. */
  env?: string[];
  /** Extra labels (the runtime adds the ones above itself). */
  labels?: Record<string, string>;
  /** The task's hostname; the task ID's first 12 characters when not given, as Docker does. */
  hostname?: string;
  workdir?: string;
  /** resolv.conf inside the task. The task controller passes nameserver 127.0.0.11 (the embedded DNS). */
  dns: { nameservers: string[]; search?: string[]; options?: string[] };
  /** Extra /etc/hosts lines inside the task, besides localhost and its own hostname. */
  hosts?: { ip: string; names: string[] }[];
}

export type RuntimeState = 'created' | 'running' | 'exited';

/** A task as the runtime sees it now. */
export interface RuntimeTask {
  /** The runtime's own ID (container ID, or the exec runtime's). */
  id: string;
  taskId: string;
  name: string;
  state: RuntimeState;
  /** Main process, while running: its /proc/PID/ns/net is the task's network namespace. */
  pid: number | undefined;
  exitCode: number | undefined;
  /** Why it could not run or ended abnormally (OOM, image missing, ...), in the runtime's words. */
  error: string | undefined;
  startedAt: string | undefined;
  finishedAt: string | undefined;
  labels: Record<string, string>;
}

/** One network interface to put into a task. */
export interface NetworkAttachment {
  /** Name inside the task: eth0, eth1, ... */
  ifname: string;
  /** The bridge to plug the other end into, and the namespace it lives in (the network's sandbox). */
  bridge: { netns: NetnsRef; name: string };
  /** Name of the bridge-side veth end (at most 15 characters, unique in that namespace). */
  hostIfname: string;
  /** The task's address with prefix, e.g. 10.0.1.5/24. */
  address: string;
  mac: string;
  mtu: number;
  /** Give the task a default route via this address (the egress bridge's gateway). */
  defaultGateway?: string;
}

export interface LogLine {
  stream: 'stdout' | 'stderr';
  /** RFC 3339 with nanoseconds when the runtime has them. */
  time: string;
  line: string;
}

export interface LogOptions {
  follow?: boolean;
  /** Only the last N lines. */
  tail?: number;
  signal?: AbortSignal;
}

export interface Runtime {
  readonly kind: RuntimeKind;
  /** Creates the task with no network but `lo` (up), labelled as this node's. Does not start it. */
  create(spec: TaskRunSpec): Promise<RuntimeTask>;
  start(id: string): Promise<void>;
  /** SIGTERM, then SIGKILL after timeoutS seconds. Resolves once it has exited; a stopped task is fine. */
  stop(id: string, timeoutS: number): Promise<void>;
  /** Removes it (stopping it first if needed) and everything the runtime keeps for it. A missing task is fine. */
  remove(id: string): Promise<void>;
  /** Undefined when the runtime has no such task. */
  inspect(id: string): Promise<RuntimeTask | undefined>;
  /** Every task this runtime made for this node (by the node label), running or not. */
  list(): Promise<RuntimeTask[]>;
  /** Resolves with the exit code when the task's main process ends (at once if it already has). */
  wait(id: string, signal?: AbortSignal): Promise<number>;
  logs(id: string, options?: LogOptions): AsyncIterable<LogLine>;
  /** The task's network namespace, while it runs. */
  netns(id: string): Promise<NetnsRef>;
  /** Plugs a veth into the task: one end on the bridge, the other as attachment.ifname, addressed and up. */
  attach(id: string, attachment: NetworkAttachment): Promise<void>;
  /** Removes an interface attach() made (deleting the pair from the bridge side). */
  detach(id: string, attachment: Pick<NetworkAttachment, 'bridge' | 'hostIfname'>): Promise<void>;
  close(): Promise<void>;
}

export class RuntimeError extends Error {
  override readonly name = 'RuntimeError';
  constructor(
    message: string,
    /**
     * NOT_FOUND for a task or image that does not exist, UNAVAILABLE when the engine does not answer,
     * CONFLICT when the name (task, container or interface) is already taken by something else.
     */
    readonly code: 'NOT_FOUND' | 'UNAVAILABLE' | 'INVALID' | 'CONFLICT' | 'FAILED' = 'FAILED',
  ) {
    super(message);
  }
}
