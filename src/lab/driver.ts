// Drives the netns lab (netns-scripts/lab) from code, for integration tests and benchmarks: a private
// prefix per user so labs never collide, `shoal` run on a node as a user would, JSON read-backs, and
// `lab down` on teardown (also when a test fails).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { projectRoot } from '../util/paths.js';

/** Anything with tap's teardown (or a benchmark's cleanup list). */
export interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

/** A short unique name: `sht` + label + 4 hex chars. Link names must stay within 15 characters. */
export function uniqueName(label: string): string {
  return `sht${label}${randomBytes(2).toString('hex')}`;
}

export const labScript = join(projectRoot, 'netns-scripts', 'lab');

export interface Run {
  status: number | null;
  out: string;
  err: string;
}

export class Lab {
  /** Prefix of every namespace and directory this lab makes. */
  readonly prefix: string;
  private readonly env: NodeJS.ProcessEnv;

  /** `root`: the checkout whose lab script and build to drive (a benchmark comparing two builds). */
  constructor(label: string, private readonly root: string = projectRoot) {
    this.prefix = uniqueName(label);
    this.env = { ...process.env, SHOAL_LAB_PREFIX: this.prefix };
  }

  /** Brings the lab up (`lab up ARGS`) and takes it down when the test ends. */
  up(t: Teardown, ...args: string[]): Run {
    t.teardown(() => { this.run('down'); });
    const r = this.run('up', ...args);
    if (r.status !== 0) throw new Error(`lab up ${args.join(' ')} failed (${r.status}): ${r.err || r.out}`);
    return r;
  }

  run(...args: string[]): Run {
    const r = spawnSync(join(this.root, 'netns-scripts', 'lab'), args, { env: this.env, encoding: 'utf8', timeout: 90_000 });
    return { status: r.status, out: (r.stdout ?? '').trim(), err: (r.stderr ?? '').trim() };
  }

  /** `shoal ARGS` on a node, talking to that node's agent. */
  shoal(node: string, ...args: string[]): Run {
    return this.run('exec', node, '--', 'shoal', ...args);
  }

  /** `shoal ARGS` whose output is JSON (inspect, --format json); undefined when the command fails. */
  json<T>(node: string, ...args: string[]): T | undefined {
    const r = this.shoal(node, ...args);
    if (r.status !== 0) return undefined;
    return JSON.parse(r.out) as T;
  }

  /** Any command in a node's namespace. */
  exec(node: string, ...cmd: string[]): Run {
    return this.run('exec', node, '--', ...cmd);
  }

  netns(node: string): string {
    return `${this.prefix}${node}`;
  }

  /** kill -9 of a node's agent (a crash). */
  kill(node: string, signal = 'KILL'): void {
    const r = this.run('kill', node, '--signal', signal);
    if (r.status !== 0) throw new Error(`lab kill ${node}: ${r.err}`);
  }

  /** Starts a node's agent again on its data dir. */
  start(node: string): void {
    const r = this.run('start', node);
    if (r.status !== 0) throw new Error(`lab start ${node}: ${r.err}`);
  }

  /** The node's agent log so far (for failure messages). */
  agentLog(node: string): string {
    return spawnSync('tail', ['-n', '40', `/run/shoal/${this.prefix}${node}/agent.log`], { encoding: 'utf8' }).stdout;
  }
}
