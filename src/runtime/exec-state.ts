// What the exec runtime keeps on disk per task, under <dataDir>/runtime/exec/<taskId>/, and how a
// task's state is read back from it and from /proc, by any agent process, at any time (an agent
// restart is just another read). A pid is only believed when its start time and the boot id match
// what the supervisor recorded, so a reused pid never passes for the task.
import { readFileSync, readdirSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError, type RuntimeTask, type TaskRunSpec } from './runtime.js';

/** spec.json: what create() was given, and what it made of it. */
export interface ExecTaskRecord {
  version: 1;
  spec: TaskRunSpec;
  nodeId: string;
  labels: Record<string, string>;
  hostname: string;
  createdAt: string;
}

/** A process as recorded: pid, its start time in clock ticks since boot, and the boot it ran in. */
export interface ProcessId {
  pid: number;
  starttime: string;
  bootId: string;
}

export const STATE_FILES = {
  record: 'spec.json',
  resolvConf: 'resolv.conf',
  hosts: 'hosts',
  supervisorScript: 'supervisor.sh',
  runScript: 'run.sh',
  supervisorPid: 'supervisor.pid',
  pid: 'pid',
  started: 'started',
  exit: 'exit',
  error: 'error',
  stdout: 'stdout.log',
  stderr: 'stderr.log',
} as const;

/** Exit code reported when the exit status was lost (the supervisor died, or the host rebooted), as Docker reports 255. */
export const UNKNOWN_EXIT = 255;

export function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** Writes a file so readers see the old or the new content, never half of it. */
export function writeAtomic(path: string, content: string): void {
  writeFileSync(`${path}.tmp`, content);
  renameSync(`${path}.tmp`, path);
}

export function readRecord(dir: string): ExecTaskRecord | undefined {
  const text = readText(join(dir, STATE_FILES.record));
  if (text === undefined) return undefined;
  try {
    const record = JSON.parse(text) as ExecTaskRecord;
    return record.version === 1 && record.spec?.taskId ? record : undefined;
  } catch {
    return undefined;
  }
}

/** The task directories under root (any name; records are checked by the caller). */
export function listTaskDirs(root: string): string[] {
  try {
    return readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export function bootId(): string {
  return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
}

/** Start time (field 22 of /proc/PID/stat) and state (field 3); undefined when there is no such process. */
export function procStat(pid: number): { starttime: string; state: string } | undefined {
  const text = readText(`/proc/${pid}/stat`);
  if (text === undefined) return undefined;
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const starttime = fields[19];
  const state = fields[0];
  return starttime === undefined || state === undefined ? undefined : { starttime, state };
}

export function formatProcessId(p: ProcessId): string {
  return `${p.pid} ${p.starttime} ${p.bootId}\n`;
}

export function readProcessId(path: string): ProcessId | undefined {
  const [pid, starttime, boot] = (readText(path) ?? '').trim().split(/\s+/);
  const n = Number(pid);
  if (!Number.isInteger(n) || n <= 0) return undefined;
  return { pid: n, starttime: starttime ?? '', bootId: boot ?? '' };
}

/** The process identified by p exists, is the same process, and has not ended (a zombie has). */
export function isAlive(p: ProcessId | undefined, currentBoot: string): boolean {
  if (!p || p.starttime === '' || p.bootId !== currentBoot) return false;
  const stat = procStat(p.pid);
  return stat !== undefined && stat.starttime === p.starttime && stat.state !== 'Z' && stat.state !== 'X';
}

/** Epoch seconds with a fraction ("1718000000.123456") as RFC 3339 with nanoseconds. */
export function epochToRfc3339(epoch: string): string | undefined {
  const m = /^(\d+)(?:[.,](\d{1,9}))?$/.exec(epoch.trim());
  if (!m) return undefined;
  const seconds = new Date(Number(m[1]) * 1000).toISOString().slice(0, 19);
  return `${seconds}.${(m[2] ?? '').padEnd(9, '0')}Z`;
}

/** Reads the task's state from its directory and /proc. */
export function readTaskState(dir: string, record: ExecTaskRecord, currentBoot: string): RuntimeTask {
  const f = (name: string): string => join(dir, name);
  const base = {
    id: record.spec.taskId,
    taskId: record.spec.taskId,
    name: record.spec.name,
    labels: record.labels,
  };
  const started = readText(f(STATE_FILES.started));
  const startedAt = started === undefined ? undefined : epochToRfc3339(started);
  const error = readText(f(STATE_FILES.error))?.trim() || undefined;
  const exited = (exit: string): RuntimeTask => {
    const [code, ended] = exit.trim().split(/\s+/);
    return { ...base, state: 'exited', pid: undefined, exitCode: Number(code), error, startedAt, finishedAt: ended ? epochToRfc3339(ended) : undefined };
  };
  const exit = readText(f(STATE_FILES.exit));
  if (exit !== undefined) return exited(exit);
  const supervisor = readProcessId(f(STATE_FILES.supervisorPid));
  if (!supervisor) return { ...base, state: 'created', pid: undefined, exitCode: undefined, error, startedAt: undefined, finishedAt: undefined };
  const main = readProcessId(f(STATE_FILES.pid));
  const mainAlive = isAlive(main, currentBoot);
  if (mainAlive || isAlive(supervisor, currentBoot)) {
    return { ...base, state: 'running', pid: mainAlive ? main?.pid : undefined, exitCode: undefined, error, startedAt, finishedAt: undefined };
  }
  const lateExit = readText(f(STATE_FILES.exit)); // the supervisor may have finished while we looked
  if (lateExit !== undefined) return exited(lateExit);
  return {
    ...base,
    state: 'exited',
    pid: undefined,
    exitCode: UNKNOWN_EXIT,
    error: error ?? 'the task supervisor ended without recording an exit status (was it killed, or did the host reboot?)',
    startedAt,
    finishedAt: undefined,
  };
}

export function notFound(id: string): RuntimeError {
  return new RuntimeError(`no exec task ${id}`, 'NOT_FOUND');
}
