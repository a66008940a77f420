// The exec runtime, for nodes without Docker (and fast tests): a task is its command run as a plain
// process in its own network, mount and UTS namespaces, on the node's filesystem (image 'host') or
// chrooted into a root filesystem directory. Each task runs under a small detached supervisor
// (exec-scripts.ts) that outlives the agent and records the pid, logs and exit status under
// <dataDir>/runtime/exec/<taskId>/ (exec-state.ts), so a restarted agent finds its tasks with list()
// and still learns how they ended. The runtime ID of a task is its task ID. Not a security boundary:
// no pid or user namespace, no cgroups, the task runs as root.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, lstatSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createNetns, deleteNetns, netnsExists, netnsPath, type NetnsRef } from '../kernel/netns.js';
import { withRtnl } from '../kernel/rtnl.js';
import type { Logger } from '../util/log.js';
import { DEFAULT_PATH, READY_FILE, runScript, SETUP_FAILED, SUPERVISOR_SCRIPT } from './exec-scripts.js';
import { readExecLogs } from './exec-logs.js';
import { untilTaskExits } from './exec-wait.js';
import {
  bootId,
  formatProcessId,
  isAlive,
  listTaskDirs,
  notFound,
  procStat,
  readProcessId,
  readRecord,
  readTaskState,
  readText,
  STATE_FILES,
  writeAtomic,
  type ExecTaskRecord,
} from './exec-state.js';
import { attach as plumbAttach, attachmentIp, detach as plumbDetach, toRuntimeError } from './plumbing.js';
import {
  RuntimeError,
  type LogLine,
  type LogOptions,
  type NetworkAttachment,
  type Runtime,
  type RuntimeTask,
  type TaskRunSpec,
} from './runtime.js';
import { addHostsEndpoint, removeHostsEndpoint, renderHosts, renderResolvConf, taskHostname, taskLabels, validateSpec } from './task-spec.js';
import { tunables } from '../config/tunables.js';

export interface ExecRuntimeOptions {
  /** The agent's data directory; tasks live under <dataDir>/runtime/exec/. */
  dataDir: string;
  nodeId: string;
  log: Logger;
}

/** The literal image name that means "the node's own filesystem". */
export const HOST_IMAGE = 'host';

const POLL_MS = 20;

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,55}$/;
/** Programs the supervisor and run.sh need on the node, and where they come from. */
const TOOLS = { bash: 'bash', nsenter: 'util-linux', unshare: 'util-linux', mount: 'mount', umount: 'mount', mkfifo: 'coreutils', env: 'coreutils' } as const;

export class ExecRuntime implements Runtime {
  readonly kind = 'exec' as const;
  private readonly root: string;
  private readonly nodeId: string;
  private readonly log: Logger;
  private readonly boot: string;
  private tools: Record<keyof typeof TOOLS, string> | undefined;

  constructor(options: ExecRuntimeOptions) {
    if (!options.dataDir || !isAbsolute(options.dataDir)) {
      throw new RuntimeError(`the exec runtime needs an absolute data directory (dataDir), not '${options.dataDir}'`, 'INVALID');
    }
    if (!options.nodeId) throw new RuntimeError('the exec runtime needs the node id (nodeId) to label its tasks', 'INVALID');
    this.root = join(options.dataDir, 'runtime', 'exec');
    this.nodeId = options.nodeId;
    this.log = options.log;
    this.boot = bootId();
  }

  async create(spec: TaskRunSpec): Promise<RuntimeTask> {
    validateSpec(spec);
    validateExecSpec(spec);
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    const dir = this.dir(spec.taskId);
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new RuntimeError(`an exec task ${spec.taskId} already exists (${dir}); remove it first`, 'CONFLICT');
      }
      throw err;
    }
    const record: ExecTaskRecord = {
      version: 1,
      spec,
      nodeId: this.nodeId,
      labels: taskLabels(spec, this.nodeId),
      hostname: taskHostname(spec),
      createdAt: new Date().toISOString(),
    };
    writeFileSync(join(dir, STATE_FILES.resolvConf), renderResolvConf(spec.dns));
    writeFileSync(join(dir, STATE_FILES.hosts), renderHosts(spec.hosts));
    writeAtomic(join(dir, STATE_FILES.record), JSON.stringify(record, null, 2)); // last: its presence means "created"
    this.log.debug({ task: spec.taskId, dir }, 'exec task created');
    return readTaskState(dir, record, this.boot);
  }

  async start(id: string): Promise<void> {
    const { dir, record } = this.mustFind(id);
    const before = readTaskState(dir, record, this.boot);
    if (before.state === 'running') return;
    const tools = this.requireTools();
    const launch = prepareLaunch(dir, record, tools.unshare);
    for (const f of [STATE_FILES.exit, STATE_FILES.pid, STATE_FILES.started, STATE_FILES.error, STATE_FILES.supervisorPid, READY_FILE]) {
      rmSync(join(dir, f), { force: true }); // a restart of an exited task begins afresh (logs are kept, as Docker does)
    }
    writeFileSync(join(dir, STATE_FILES.runScript), launch);
    writeFileSync(join(dir, STATE_FILES.supervisorScript), SUPERVISOR_SCRIPT);

    const name = holderName(record.spec.taskId);
    if (netnsExists(name)) deleteNetns(name); // left by an agent that died while starting this task
    try {
      createNetns(name);
    } catch (err) {
      throw toRuntimeError(err, `start exec task ${id}: create its network namespace`);
    }
    try {
      await withRtnl({ name }, (rtnl) => rtnl.links.setUp('lo'));
      this.spawnSupervisor(dir, tools.bash, netnsPath({ name }));
      await this.untilReady(dir);
    } catch (err) {
      throw toRuntimeError(err, `start exec task ${id}`);
    } finally {
      // The process holds the namespace now; the name was only needed to get it there.
      if (netnsExists(name)) deleteNetns(name);
    }
    const after = readTaskState(dir, record, this.boot);
    if (after.state === 'exited' && after.exitCode === SETUP_FAILED && after.error) {
      throw new RuntimeError(`start exec task ${id}: ${after.error}`, 'FAILED');
    }
    this.log.debug({ task: id, pid: after.pid }, 'exec task started');
  }

  async stop(id: string, timeoutS: number): Promise<void> {
    const { dir, record } = this.mustFind(id);
    if (readTaskState(dir, record, this.boot).state !== 'running') return;
    const main = readProcessId(join(dir, STATE_FILES.pid));
    if (main && isAlive(main, this.boot)) signal(main.pid, 'SIGTERM');
    if (await this.untilExited(dir, record, Math.max(0, timeoutS) * 1000)) return;
    if (main && isAlive(main, this.boot)) {
      signal(-main.pid, 'SIGKILL'); // its process group: the task's other processes too
      signal(main.pid, 'SIGKILL');
    }
    if (!(await this.untilExited(dir, record, tunables.execKillTimeoutMs))) {
      throw new RuntimeError(`stop exec task ${id}: still running ${tunables.execKillTimeoutMs / 1000} s after SIGKILL`, 'FAILED');
    }
  }

  async remove(id: string): Promise<void> {
    if (!ID_RE.test(id)) return;
    const dir = this.dir(id);
    const record = readRecord(dir);
    if (record) {
      await this.stop(id, 0);
      const supervisor = readProcessId(join(dir, STATE_FILES.supervisorPid));
      const deadline = Date.now() + tunables.execKillTimeoutMs;
      while (isAlive(supervisor, this.boot) && Date.now() < deadline) await sleep(POLL_MS);
      if (isAlive(supervisor, this.boot)) signal(supervisor!.pid, 'SIGKILL');
    }
    const name = holderName(id);
    if (netnsExists(name)) deleteNetns(name);
    rmSync(dir, { recursive: true, force: true });
  }

  async inspect(id: string): Promise<RuntimeTask | undefined> {
    if (!ID_RE.test(id)) return undefined;
    const dir = this.dir(id);
    const record = readRecord(dir);
    return record && readTaskState(dir, record, this.boot);
  }

  async list(): Promise<RuntimeTask[]> {
    const out: RuntimeTask[] = [];
    for (const name of listTaskDirs(this.root)) {
      const dir = join(this.root, name);
      const record = readRecord(dir);
      if (record && record.nodeId === this.nodeId) out.push(readTaskState(dir, record, this.boot));
    }
    return out;
  }

  /** Event-driven: the supervisor's `exit` file is watched (exec-wait.ts), with a slow resync for what inotify cannot see. */
  async wait(id: string, abort?: AbortSignal): Promise<number> {
    abort?.throwIfAborted();
    if (!ID_RE.test(id)) throw notFound(id);
    const dir = this.dir(id);
    const read = (): RuntimeTask | undefined => {
      const record = readRecord(dir);
      return record && readTaskState(dir, record, this.boot);
    };
    return untilTaskExits({ dir, read, gone: () => notFound(id), signal: abort, log: this.log });
  }

  async *logs(id: string, options: LogOptions = {}): AsyncIterable<LogLine> {
    const { dir, record } = this.mustFind(id);
    const paths = { stdout: join(dir, STATE_FILES.stdout), stderr: join(dir, STATE_FILES.stderr) };
    const exited = (): boolean => !existsSync(dir) || readTaskState(dir, record, this.boot).state === 'exited';
    yield* readExecLogs(paths, options, exited);
  }

  async netns(id: string): Promise<NetnsRef> {
    return { pid: this.runningPid(id) };
  }

  async attach(id: string, attachment: NetworkAttachment): Promise<void> {
    const pid = this.runningPid(id);
    await plumbAttach({ pid }, attachment);
    const { dir, record } = this.mustFind(id);
    addHostsEndpoint(join(dir, STATE_FILES.hosts), attachmentIp(attachment), record.hostname, attachment.hostIfname);
  }

  async detach(id: string, attachment: Pick<NetworkAttachment, 'bridge' | 'hostIfname'>): Promise<void> {
    await plumbDetach(attachment);
    const hosts = join(this.dir(id), STATE_FILES.hosts);
    if (ID_RE.test(id) && existsSync(hosts)) removeHostsEndpoint(hosts, attachment.hostIfname);
  }

  async close(): Promise<void> {
    // Nothing to release: the tasks and their supervisors run on without us.
  }

  private dir(id: string): string {
    return join(this.root, id);
  }

  private mustFind(id: string): { dir: string; record: ExecTaskRecord } {
    const dir = this.dir(id);
    const record = ID_RE.test(id) ? readRecord(dir) : undefined;
    if (!record) throw notFound(id);
    return { dir, record };
  }

  private runningPid(id: string): number {
    const { dir, record } = this.mustFind(id);
    const task = readTaskState(dir, record, this.boot);
    if (task.state !== 'running' || task.pid === undefined) {
      throw new RuntimeError(`exec task ${id} is not running (${task.state}); it has no network namespace`, 'INVALID');
    }
    return task.pid;
  }

  private requireTools(): Record<keyof typeof TOOLS, string> {
    if (this.tools) return this.tools;
    if (process.getuid?.() !== 0) throw new RuntimeError('the exec runtime must run as root (it creates namespaces and mounts)', 'UNAVAILABLE');
    const found: Partial<Record<keyof typeof TOOLS, string>> = {};
    for (const [tool, pkg] of Object.entries(TOOLS) as [keyof typeof TOOLS, string][]) {
      const path = findInPath('/', tool, DEFAULT_PATH, true);
      if (!path) throw new RuntimeError(`the exec runtime needs '${tool}' on this node; install the ${pkg} package`, 'UNAVAILABLE');
      found[tool] = path;
    }
    this.tools = found as Record<keyof typeof TOOLS, string>;
    return this.tools;
  }

  /** Starts supervisor.sh in its own session, detached from us, and records who it is. */
  private spawnSupervisor(dir: string, bash: string, netns: string): void {
    const child = spawn(bash, [join(dir, STATE_FILES.supervisorScript), dir, netns], {
      detached: true,
      stdio: 'ignore',
      env: { PATH: DEFAULT_PATH, LC_ALL: 'C' },
    });
    child.on('error', (err) => this.log.error({ err, dir }, 'exec task supervisor failed to start'));
    child.unref();
    if (child.pid === undefined) throw new RuntimeError(`could not start ${bash} for the task supervisor`, 'FAILED');
    const stat = procStat(child.pid);
    writeAtomic(join(dir, STATE_FILES.supervisorPid), formatProcessId({ pid: child.pid, starttime: stat?.starttime ?? '', bootId: this.boot }));
  }

  /** Resolves once run.sh has the task's namespaces ready (it then execs the command), or the task has already ended. */
  private async untilReady(dir: string): Promise<void> {
    const supervisor = readProcessId(join(dir, STATE_FILES.supervisorPid));
    const deadline = Date.now() + tunables.execStartTimeoutMs;
    while (Date.now() < deadline) {
      const ready = existsSync(join(dir, READY_FILE)) && existsSync(join(dir, STATE_FILES.pid));
      if (ready || existsSync(join(dir, STATE_FILES.exit))) return;
      if (!isAlive(supervisor, this.boot) && !existsSync(join(dir, STATE_FILES.exit))) {
        const complaint = readText(join(dir, 'supervisor.log'))?.trim().split('\n').slice(-3).join(' | ');
        throw new RuntimeError(`the task supervisor ended before the task started${complaint ? `: ${complaint}` : ''}`, 'FAILED');
      }
      await sleep(POLL_MS);
    }
    throw new RuntimeError(`the task did not get its namespaces ready within ${tunables.execStartTimeoutMs / 1000} s (see ${dir}/supervisor.log)`, 'FAILED');
  }

  private async untilExited(dir: string, record: ExecTaskRecord, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (readTaskState(dir, record, this.boot).state === 'exited') return true;
      if (Date.now() >= deadline) return false;
      await sleep(POLL_MS);
    }
  }
}

/** The name the task's network namespace has while start() brings the process into it. */
function holderName(taskId: string): string {
  return `shoal-x-${taskId}`;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** What the exec runtime needs beyond validateSpec: a command, and absolute image and workdir paths. */
function validateExecSpec(spec: TaskRunSpec): void {
  const bad = (problem: string): RuntimeError => new RuntimeError(`task ${spec.taskId}: ${problem}`, 'INVALID');
  if (spec.image !== HOST_IMAGE && !isAbsolute(spec.image)) {
    throw bad(`image '${spec.image}' is neither '${HOST_IMAGE}' nor an absolute root filesystem directory (the exec runtime runs no image references)`);
  }
  if (spec.image !== HOST_IMAGE && !isDirectory(spec.image)) throw bad(`root filesystem ${spec.image} is not a directory on this node`);
  if ([...(spec.command ?? []), ...(spec.args ?? [])].length === 0) throw bad('no command: the exec runtime has no image CMD, so give command or args');
  if (spec.workdir !== undefined && !isAbsolute(spec.workdir)) throw bad(`workdir '${spec.workdir}' must be an absolute path`);
}

/** run.sh for the task, after checking that what it needs is there. */
function prepareLaunch(dir: string, record: ExecTaskRecord, unshare: string): string {
  const { spec } = record;
  const root = spec.image === HOST_IMAGE ? '/' : spec.image.replace(/\/+$/, '') || '/';
  const bad = (problem: string): RuntimeError => new RuntimeError(`start exec task ${spec.taskId}: ${problem}`, 'INVALID');
  if (!isDirectory(root)) throw bad(`root filesystem ${root} is not a directory on this node`);
  if (root !== '/') for (const file of ['/etc/resolv.conf', '/etc/hosts']) ensureMountTarget(root, file, bad);

  const env = [`PATH=${DEFAULT_PATH}`, `HOSTNAME=${record.hostname}`, 'HOME=/root', ...(spec.env ?? [])];
  const path = [...env].reverse().find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
  const argv = [...(spec.command ?? []), ...(spec.args ?? [])];
  const workdir = spec.workdir ?? '/';
  if (!isDirectory(inRoot(root, workdir))) throw bad(`workdir ${workdir} does not exist in ${spec.image === HOST_IMAGE ? 'the node filesystem' : root}`);
  const program = argv[0] ?? '';
  const resolved = program.includes('/')
    ? (exists(inRoot(root, isAbsolute(program) ? program : join(workdir, program))) ? program : undefined)
    : findInPath(root, program, path, false);
  if (!resolved) throw bad(`executable '${program}' not found${program.includes('/') ? '' : ` in PATH ${path}`} of image ${spec.image}`);
  return runScript({ dir, root, hostname: record.hostname, workdir, env, argv, unshare });
}

/** A regular file at root+file to bind-mount over; created empty when missing (the root filesystem gains it). */
function ensureMountTarget(root: string, file: string, bad: (p: string) => RuntimeError): void {
  const path = inRoot(root, file);
  let st;
  try {
    st = lstatSync(path);
  } catch {
    mkdirSync(inRoot(root, '/etc'), { recursive: true });
    writeFileSync(path, '', { flag: 'wx' });
    return;
  }
  if (!st.isFile()) throw bad(`${path} must be a regular file (the task's own ${file} is bind-mounted over it); replace the ${st.isSymbolicLink() ? 'symlink' : 'entry'} with a file`);
}

function inRoot(root: string, path: string): string {
  return root === '/' ? path : join(root, path);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Exists as anything, a dangling symlink included (links inside a root filesystem point into it, not at ours). */
function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The first PATH entry under root holding name; executable when checkExec (only meaningful for root '/'). */
function findInPath(root: string, name: string, path: string, checkExec: boolean): string | undefined {
  for (const d of path.split(':').filter((x) => isAbsolute(x))) {
    const candidate = join(d, name);
    if (!exists(inRoot(root, candidate))) continue;
    if (checkExec) {
      try {
        accessSync(candidate, constants.X_OK);
      } catch {
        continue;
      }
    }
    return candidate;
  }
  return undefined;
}
