// The Docker runtime: each task is a container on the local Docker Engine (dockerode over the unix
// socket), created with NetworkMode 'none' and plumbed by shoal through its pid. Owns: the container
// spec (name, labels, DNS and extra hosts, hostname), the mapping of engine state and errors to the
// Runtime interface, logs, wait, and the own-hostname lines of the container's hosts file. An image
// the engine lacks is pulled first (with the service's registry auth), as swarmkit's executor does in
// its Prepare step; one that cannot be pulled makes create fail with the engine's "No such image".
import Docker from 'dockerode';
import type { Logger } from '../util/log.js';
import { demuxLines } from './docker-logs.js';
import { attach as plumbAttach, attachmentIp, detach as plumbDetach } from './plumbing.js';
import {
  LABEL_MANAGED,
  LABEL_NODE,
  LABEL_TASK,
  LABEL_TASK_NAME,
  RuntimeError,
  type LogLine,
  type LogOptions,
  type NetworkAttachment,
  type Runtime,
  type RuntimeTask,
  type TaskRunSpec,
} from './runtime.js';
import type { NetnsRef } from '../kernel/netns.js';
import { tunables } from '../config/tunables.js';
import { pullReference } from '../model/image-ref.js';
import { addHostsEndpoint, dockerExtraHosts, removeHostsEndpoint, taskHostname, taskLabels, validateSpec } from './task-spec.js';

export const DOCKER_SOCKET = '/var/run/docker.sock';

export interface DockerRuntimeOptions {
  /** The agent's data directory. The Docker runtime keeps nothing there (the engine holds the state). */
  dataDir: string;
  nodeId: string;
  log: Logger;
  /** The engine's socket; /var/run/docker.sock unless given. */
  socketPath?: string;
}

/** Docker's zero time, which it reports for "never". */
const ZERO_TIME = '0001-01-01T00:00:00Z';

export class DockerRuntime implements Runtime {
  readonly kind = 'docker' as const;
  private readonly docker: Docker;
  private readonly socketPath: string;
  private readonly nodeId: string;
  private readonly log: Logger;

  constructor(options: DockerRuntimeOptions) {
    if (!options.nodeId) throw new RuntimeError('the Docker runtime needs the node id (nodeId) to label and find its containers', 'INVALID');
    this.socketPath = options.socketPath ?? DOCKER_SOCKET;
    this.docker = new Docker({ socketPath: this.socketPath });
    this.nodeId = options.nodeId;
    this.log = options.log;
  }

  async create(spec: TaskRunSpec): Promise<RuntimeTask> {
    validateSpec(spec);
    await this.ensureImage(spec);
    const options: Docker.ContainerCreateOptions = {
      name: spec.name,
      Image: spec.image,
      Hostname: taskHostname(spec),
      Labels: taskLabels(spec, this.nodeId),
      HostConfig: {
        NetworkMode: 'none',
        // Docker 20.10 writes these into the container's resolv.conf and hosts even with 'none'
        // (checked; see docs/decisions/0009-task-runtimes.md).
        Dns: spec.dns.nameservers,
        DnsSearch: spec.dns.search ?? [],
        DnsOptions: spec.dns.options ?? [],
        ExtraHosts: dockerExtraHosts(spec.hosts),
      },
    };
    if (spec.command !== undefined) options.Entrypoint = spec.command;
    if (spec.args !== undefined) options.Cmd = spec.args;
    if (spec.env !== undefined) options.Env = spec.env;
    if (spec.workdir !== undefined) options.WorkingDir = spec.workdir;
    let id: string;
    try {
      id = (await this.docker.createContainer(options)).id;
    } catch (err) {
      // The engine's own words ("No such image: x:latest"): what Docker shows in `service ps`.
      if (statusOf(err) === 404) throw new RuntimeError(engineMessage(err), 'NOT_FOUND');
      if (statusOf(err) === 409) {
        throw new RuntimeError(`a container named ${spec.name} already exists (${engineMessage(err)})`, 'CONFLICT');
      }
      throw this.engineError(err, `create container ${spec.name}`);
    }
    this.log.debug({ task: spec.taskId, container: id }, 'container created');
    const task = await this.inspect(id);
    if (!task) throw new RuntimeError(`container ${spec.name} (${id}) vanished right after it was created`, 'FAILED');
    return task;
  }

  /**
   * Pulls the task's image when the engine does not have it. A failed pull is logged, not thrown: as
   * in Docker, the create that follows then fails with "No such image", which is what the task shows.
   */
  private async ensureImage(spec: TaskRunSpec): Promise<void> {
    if (await this.hasImage(spec.image)) return;
    const ref = pullReference(spec.image);
    const started = Date.now();
    try {
      await this.pull(ref, spec.registryAuth);
      this.log.info({ task: spec.taskId, image: ref, ms: Date.now() - started }, 'image pulled');
    } catch (err) {
      if (err instanceof RuntimeError && err.code === 'UNAVAILABLE') throw err;
      this.log.warn({ task: spec.taskId, image: ref, err: (err as Error).message }, 'pulling image failed');
    }
  }

  private async hasImage(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw this.engineError(err, `inspect image ${image}`);
    }
  }

  /** POST /images/create?fromImage=REF with X-Registry-Auth, reading the progress stream to its end for an error. */
  async pull(ref: string, registryAuth: string | undefined): Promise<void> {
    const signal = AbortSignal.timeout(tunables.imagePullTimeoutMs);
    let stream: NodeJS.ReadableStream;
    try {
      stream = (await this.docker.createImage(registryAuth ? { key: registryAuth } : undefined, { fromImage: ref, abortSignal: signal })) as NodeJS.ReadableStream;
    } catch (err) {
      throw this.engineError(err, `pull ${ref}`);
    }
    let failure: string | undefined;
    let rest = '';
    const take = (line: string) => {
      if (line.trim() === '') return;
      try {
        const msg = JSON.parse(line) as { error?: unknown; errorDetail?: { message?: unknown } };
        if (typeof msg.error === 'string') failure = msg.error;
        else if (typeof msg.errorDetail?.message === 'string') failure = msg.errorDetail.message;
      } catch {
        // not a progress message; ignore
      }
    };
    try {
      for await (const chunk of stream as AsyncIterable<Buffer | string>) {
        const lines = (rest + chunk.toString()).split('\n');
        rest = lines.pop() ?? '';
        lines.forEach(take);
      }
      take(rest);
    } catch (err) {
      throw new RuntimeError(`pull ${ref}: ${signal.aborted ? `no answer within ${tunables.imagePullTimeoutMs / 1000} s` : (err as Error).message}`, 'FAILED');
    }
    if (failure !== undefined) throw new RuntimeError(`pull ${ref}: ${failure}`, 'NOT_FOUND');
  }

  async start(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).start();
    } catch (err) {
      if (statusOf(err) === 304) return; // already running
      throw this.engineError(err, `start container ${id}`);
    }
  }

  async stop(id: string, timeoutS: number): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: Math.max(0, Math.ceil(timeoutS)) });
    } catch (err) {
      if (statusOf(err) === 304) return; // not running
      throw this.engineError(err, `stop container ${id}`);
    }
  }

  async remove(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (err) {
      if (statusOf(err) === 404) return;
      throw this.engineError(err, `remove container ${id}`);
    }
  }

  async inspect(id: string): Promise<RuntimeTask | undefined> {
    const info = await this.inspectRaw(id);
    return info && toTask(info);
  }

  async list(): Promise<RuntimeTask[]> {
    let summaries: Docker.ContainerInfo[];
    try {
      summaries = await this.docker.listContainers({ all: true, filters: { label: [LABEL_MANAGED, `${LABEL_NODE}=${this.nodeId}`] } });
    } catch (err) {
      throw this.engineError(err, 'list containers');
    }
    const tasks = await Promise.all(summaries.map((s) => this.inspect(s.Id)));
    return tasks.filter((t): t is RuntimeTask => t !== undefined && t.labels[LABEL_NODE] === this.nodeId);
  }

  async wait(id: string, signal?: AbortSignal): Promise<number> {
    const info = await this.inspectRaw(id);
    if (!info) throw notFound(id);
    // 'not-running' answers at once for a container that has already exited, but also for one not
    // yet started; for that one wait for its next exit instead.
    const condition = info.State.Status === 'created' ? 'next-exit' : 'not-running';
    try {
      const result = (await this.docker.getContainer(id).wait({ condition, abortSignal: signal })) as { StatusCode?: number };
      return result.StatusCode ?? -1;
    } catch (err) {
      if ((err as Error).name === 'AbortError' || signal?.aborted) throw signal?.reason ?? err;
      throw this.engineError(err, `wait for container ${id}`);
    }
  }

  async *logs(id: string, options: LogOptions = {}): AsyncIterable<LogLine> {
    const base = { stdout: true, stderr: true, timestamps: true, abortSignal: options.signal, ...(options.tail !== undefined ? { tail: options.tail } : {}) };
    const container = this.docker.getContainer(id);
    try {
      if (options.follow) {
        const stream = (await container.logs({ ...base, follow: true })) as AsyncIterable<Buffer>;
        yield* demuxLines(stream);
      } else {
        const body: unknown = await container.logs({ ...base, follow: false });
        yield* demuxLines([Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : '')]);
      }
    } catch (err) {
      if ((err as Error).name === 'AbortError' || options.signal?.aborted) return;
      throw this.engineError(err, `logs of container ${id}`);
    }
  }

  async netns(id: string): Promise<NetnsRef> {
    return { pid: await this.runningPid(id) };
  }

  async attach(id: string, attachment: NetworkAttachment): Promise<void> {
    const info = await this.runningInfo(id);
    await plumbAttach({ pid: info.State.Pid }, attachment);
    // The engine adds no own-hostname line for a 'none' container; add it to the file it mounts (in place).
    if (!info.HostsPath) return;
    try {
      addHostsEndpoint(info.HostsPath, attachmentIp(attachment), info.Config.Hostname, attachment.hostIfname);
    } catch (err) {
      this.log.warn({ err, container: id, hosts: info.HostsPath }, 'could not add the task hostname to its hosts file');
    }
  }

  async detach(id: string, attachment: Pick<NetworkAttachment, 'bridge' | 'hostIfname'>): Promise<void> {
    await plumbDetach(attachment);
    const info = await this.inspectRaw(id);
    if (info?.HostsPath) {
      try {
        removeHostsEndpoint(info.HostsPath, attachment.hostIfname);
      } catch (err) {
        this.log.debug({ err, container: id }, 'hosts file not updated on detach');
      }
    }
  }

  async close(): Promise<void> {
    // dockerode keeps no connection open between requests.
  }

  private async inspectRaw(id: string): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await this.docker.getContainer(id).inspect();
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw this.engineError(err, `inspect container ${id}`);
    }
  }

  private async runningInfo(id: string): Promise<Docker.ContainerInspectInfo> {
    const info = await this.inspectRaw(id);
    if (!info) throw notFound(id);
    if (!info.State.Running || !(info.State.Pid > 0)) {
      throw new RuntimeError(`container ${id} is not running (${info.State.Status}); it has no network namespace`, 'INVALID');
    }
    return info;
  }

  private async runningPid(id: string): Promise<number> {
    return (await this.runningInfo(id)).State.Pid;
  }

  /** Engine failures as runtime errors: an engine that does not answer is UNAVAILABLE. */
  private engineError(err: unknown, what: string): RuntimeError {
    if (err instanceof RuntimeError) return err;
    const errno = (err as { code?: unknown }).code;
    if (typeof errno === 'string' && ['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(errno)) {
      return new RuntimeError(
        `${what}: the Docker Engine does not answer on ${this.socketPath} (${errno}); start it (scripts/docker-engine) or run the node with the exec runtime`,
        'UNAVAILABLE',
      );
    }
    const status = statusOf(err);
    const code = status === 404 ? 'NOT_FOUND' : status === 409 ? 'CONFLICT' : status === 400 ? 'INVALID' : 'FAILED';
    return new RuntimeError(`${what}: ${engineMessage(err)}`, code);
  }
}

function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown })?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/** The engine's own words ({"message": ...}), else the error's. */
function engineMessage(err: unknown): string {
  const json = (err as { json?: { message?: unknown } })?.json;
  if (json && typeof json.message === 'string') return json.message;
  return err instanceof Error ? err.message : String(err);
}

function notFound(id: string): RuntimeError {
  return new RuntimeError(`no container ${id}`, 'NOT_FOUND');
}

function time(t: string | undefined): string | undefined {
  return t && t !== ZERO_TIME ? t : undefined;
}

/** Engine state as the Runtime interface sees it. */
function toTask(info: Docker.ContainerInspectInfo): RuntimeTask {
  const s = info.State;
  const state = s.Status === 'created' ? 'created' : s.Running || s.Restarting || s.Paused ? 'running' : 'exited';
  const labels = info.Config.Labels ?? {};
  const error = s.Error ? s.Error : s.OOMKilled ? 'killed by the kernel OOM killer' : undefined;
  return {
    id: info.Id,
    taskId: labels[LABEL_TASK] ?? '',
    name: labels[LABEL_TASK_NAME] ?? info.Name.replace(/^\//, ''),
    state,
    pid: state === 'running' && s.Pid > 0 ? s.Pid : undefined,
    exitCode: state === 'exited' ? s.ExitCode : undefined,
    error,
    startedAt: time(s.StartedAt),
    finishedAt: state === 'exited' ? time(s.FinishedAt) : undefined,
    labels,
  };
}
