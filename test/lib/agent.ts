// Runs the real, compiled agent (dist/) for integration tests: a private socket and data dir under a
// temp dir, logs captured, and the process stopped and the dir removed on teardown, also on failure.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot } from '../../src/util/paths.js';
import type { Teardown } from './kernel.js';

export const cliPath = join(projectRoot, 'dist', 'src', 'cli', 'main.js');

function assertBuilt(): void {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run \`npm run build\` before the integration tests`);
}

export function tempDir(t: Teardown, label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `shoal-${label}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface RunningAgent {
  proc: ChildProcess;
  socket: string;
  dir: string;
  logs(): string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

export async function startAgent(t: Teardown, opts: { args?: string[]; env?: Record<string, string>; socket?: string } = {}): Promise<RunningAgent> {
  assertBuilt();
  const dir = tempDir(t, 'agent');
  const socket = opts.socket ?? join(dir, 'shoal.sock');
  const args = [cliPath, 'agent', '-H', `unix://${socket}`, '--data-dir', join(dir, 'data'), '--log-format', 'json', ...(opts.args ?? [])];
  const proc = spawn(process.execPath, args, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = once(proc, 'exit').then(([code]) => code as number | null);
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  const agent: RunningAgent = {
    proc,
    socket,
    dir,
    logs: () => output,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`agent exited with ${proc.exitCode} before serving:\n${output}`);
    if (output.includes('"agent started"')) return agent;
    await sleep(50);
  }
  throw new Error(`agent did not start within 5 s:\n${output}`);
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the compiled CLI with the given args and environment. */
export function cli(args: string[], env: Record<string, string> = {}, runAs?: string): CliResult {
  assertBuilt();
  const cmd = runAs ? 'setpriv' : process.execPath;
  const full = runAs ? [`--reuid=${runAs}`, `--regid=${runAs}`, '--clear-groups', process.execPath, cliPath, ...args] : [cliPath, ...args];
  const r = spawnSync(cmd, full, { env: { ...process.env, SHOAL_HOST: '', ...env }, encoding: 'utf8', timeout: 20000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
