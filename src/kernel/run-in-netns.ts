// Running a command-line tool (nft, conntrack) inside a network namespace and collecting what it
// printed. `nsenter --net=FILE` enters only the network namespace (unlike `ip netns exec`, which
// also remounts /sys); in our own namespace the tool runs as is.
import { spawn } from 'node:child_process';
import { KernelError } from './errors.js';
import { netnsPath, type NetnsRef } from './netns.js';

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  signal?: AbortSignal;
  /** What to tell the user when the tool is not installed, e.g. "install the nftables package (apt-get install nftables)". */
  missing: string;
}

export function runInNetns(ref: NetnsRef, tool: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const [cmd, argv] = ref === 'self' ? [tool, args] : ['nsenter', [`--net=${netnsPath(ref)}`, tool, ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'], ...(opts.signal ? { signal: opts.signal } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') reject(new KernelError('ENOENT', `run ${cmd}`, `${cmd} not found: ${opts.missing}${cmd === 'nsenter' ? ' and util-linux' : ''}`));
      else reject(new KernelError(err.code ?? 'EUNKNOWN', `run ${cmd}`, err.message));
    });
    child.on('close', (status) => {
      if (status === 127 && cmd === 'nsenter' && /failed to execute/.test(stderr)) reject(new KernelError('ENOENT', `run ${tool}`, `${tool} not found: ${opts.missing}`));
      else resolve({ status, stdout, stderr });
    });
    child.stdin.on('error', () => {}); // the tool may exit before reading everything; its status says why
    child.stdin.end(opts.input ?? '');
  });
}
