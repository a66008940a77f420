// The pools the gossip benchmark measures, behind one interface: Serf agents and shoal node
// processes on real sockets inside a scratch network namespace, and shoal nodes in this process on
// the simulated transport. Every pool reports what its members observe as events stamped with the
// time they reached this process (the same way for Serf and for shoal processes: one line on a pipe),
// so that figures from different pools compare.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { pino } from 'pino';
import { SimNetwork, type SimNetworkOptions } from '../src/cluster/transport-sim.js';
import { createNetns, deleteNetns, netnsExists } from '../src/kernel/netns.js';
import { projectRoot } from '../src/util/paths.js';
import { benchValue, BENCH_TABLE, createShoalNode, GOSSIP_PORT, type ShoalNode } from './gossip-shoal.js';

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export type ObservedState = 'alive' | 'failed' | 'left';

export interface PoolEvents {
  /** `observer` now sees `member` in `state`. */
  member: [observer: string, member: string, state: ObservedState, t: number];
  /** `observer` has the entry (or user event) `key`, its own writes included. */
  entry: [observer: string, key: string, t: number];
}

export interface GossipPool extends EventEmitter<PoolEvents> {
  readonly label: string;
  /** Current members, in start order. */
  readonly names: string[];
  /** Starts n members and resolves once every member sees every other alive. */
  start(n: number): Promise<void>;
  /** Hard-stops a member (SIGKILL, or a transport shut without a leave); returns the time just before. */
  kill(name: string): number;
  /** Writes a replicated entry (shoal) or fires a user event (Serf) named key on a member. */
  write(name: string, key: string, seq: number): Promise<void>;
  /** Graceful leave; the member is gone once this resolves. */
  leave(name: string): Promise<void>;
  /** Starts a member that left again, under the same name and address, and joins it to the pool. */
  rejoin(name: string): Promise<void>;
  close(): Promise<void>;
}

/** Every member's view of every other, kept from the events; `start` waits on it. */
class Views {
  readonly byObserver = new Map<string, Map<string, ObservedState>>();

  see(observer: string, member: string, state: ObservedState): void {
    let v = this.byObserver.get(observer);
    if (!v) this.byObserver.set(observer, (v = new Map()));
    v.set(member, state);
  }

  forget(observer: string): void {
    this.byObserver.delete(observer);
  }

  allAlive(names: readonly string[]): boolean {
    return names.every((o) => names.every((m) => m === o || this.byObserver.get(o)?.get(m) === 'alive'));
  }

  /** Who does not yet see whom alive, for error messages. */
  missing(names: readonly string[]): string {
    return names.flatMap((o) => names.filter((m) => m !== o && this.byObserver.get(o)?.get(m) !== 'alive').map((m) => `${o} lacks ${m}`)).join(', ');
  }
}

async function waitFor(what: string, fn: () => boolean, timeoutMs: number, detail: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail() ? `: ${detail()}` : ''}`);
    await sleep(50);
  }
}

// ---- scratch namespace ----

/** A network namespace of our own with lo up: 127.0.0.0/8 is all ours, and nft counters see only our pool. */
export class ScratchNetns {
  readonly path: string;

  constructor(readonly name: string) {
    this.path = `/run/netns/${name}`;
  }

  async create(): Promise<void> {
    createNetns(this.name);
    await run('ip', ['-n', this.name, 'link', 'set', 'lo', 'up']);
  }

  /** argv to run a program inside (nsenter execs it, so the child's pid is the program's). */
  wrap(cmd: string, args: readonly string[]): [string, string[]] {
    return ['nsenter', [`--net=${this.path}`, cmd, ...args]];
  }

  remove(): void {
    if (netnsExists(this.name)) deleteNetns(this.name);
  }
}

export function run(cmd: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err.trim() || out.trim()}`))));
    child.stdin.on('error', () => {}); // a program that reads no input may exit first: its status tells
    child.stdin.end(input ?? '');
  });
}

// ---- child processes ----

/** Every process any pool started, so that an exit handler can kill what is left. */
export const liveChildren = new Set<ChildProcess>();

interface Child {
  proc: ChildProcess;
  exited: Promise<void>;
  /** The last lines of its output, for error messages. */
  tail(): string;
}

function startChild(argv: [string, string[]], onLine: (line: string, t: number) => void): Child {
  const proc = spawn(argv[0], argv[1], { stdio: ['pipe', 'pipe', 'pipe'] });
  liveChildren.add(proc);
  const exited = once(proc, 'exit').then(() => { liveChildren.delete(proc); });
  const recent: string[] = [];
  const keep = (line: string) => {
    recent.push(line);
    if (recent.length > 40) recent.shift();
  };
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    keep(line);
    onLine(line, now());
  });
  createInterface({ input: proc.stderr! }).on('line', keep);
  proc.stdin!.on('error', () => {});
  return { proc, exited, tail: () => recent.join('\n') };
}

async function killChild(c: Child | undefined): Promise<void> {
  if (!c) return;
  if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  await c.exited;
}

function addrOf(prefix: string, i: number): string {
  return `${prefix}.${11 + i}`;
}

// ---- Serf ----

const SERF_LINES: [RegExp, (m: RegExpExecArray) => { member?: [string, ObservedState]; entry?: string }][] = [
  [/serf: EventMemberJoin: (\S+) /, (m) => ({ member: [m[1]!, 'alive'] })],
  [/serf: EventMemberFailed: (\S+) /, (m) => ({ member: [m[1]!, 'failed'] })],
  [/serf: EventMemberLeave: (\S+) /, (m) => ({ member: [m[1]!, 'left'] })],
  [/agent: Received event: user-event: (\S+)/, (m) => ({ entry: m[1]! })],
];

/**
 * Debian's serf agent (memberlist 0.2.2, LAN profile), one per member, bound to 127.0.x.(11+i):7946
 * with its RPC on :7373 of the same address. What members observe comes from the agents' log lines
 * (EventMemberJoin/Failed/Leave, "Received event: user-event"), timestamped on arrival here.
 */
export class SerfPool extends EventEmitter<PoolEvents> implements GossipPool {
  readonly label = 'Serf';
  readonly names: string[] = [];
  private readonly agents = new Map<string, Child>();
  private readonly addrs = new Map<string, string>();
  private readonly views = new Views();

  constructor(
    private readonly ns: ScratchNetns,
    private readonly prefix: string,
  ) {
    super();
  }

  async start(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const name = `serf${i + 1}`;
      this.addrs.set(name, addrOf(this.prefix, i));
      this.names.push(name);
      this.spawnAgent(name, i === 0 ? undefined : this.addrs.get(this.names[0]!)!);
      if (i === 0) await this.rpcReady(name);
    }
    await waitFor(`${n} Serf agents to see each other alive`, () => this.views.allAlive(this.names), 30_000, () => this.diagnose());
  }

  kill(name: string): number {
    const t0 = now();
    this.agents.get(name)?.proc.kill('SIGKILL');
    return t0;
  }

  async write(name: string, key: string, seq: number): Promise<void> {
    // The payload is as long as a shoal store message for the same write, so both carry the same bytes.
    await this.rpc(name, ['event', '-coalesce=false', key, JSON.stringify(benchValue(seq, name))]);
  }

  async leave(name: string): Promise<void> {
    const agent = this.agents.get(name);
    await this.rpc(name, ['leave']);
    await agent?.exited;
    this.agents.delete(name);
    this.views.forget(name);
  }

  async rejoin(name: string): Promise<void> {
    const seed = this.names.find((x) => x !== name && this.agents.has(x));
    this.spawnAgent(name, seed ? this.addrs.get(seed) : undefined);
    await waitFor(`${name} to be back`, () => this.views.allAlive(this.names), 30_000);
  }

  async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map(killChild));
    this.agents.clear();
  }

  private diagnose(): string {
    const exited = [...this.agents].filter(([, c]) => c.proc.exitCode !== null || c.proc.signalCode !== null).map(([name, c]) => `${name} exited:\n${c.tail()}`);
    return `${this.views.missing(this.names)}${exited.length > 0 ? `\n${exited.join('\n')}` : ''}`;
  }

  private spawnAgent(name: string, join: string | undefined): void {
    const addr = this.addrs.get(name)!;
    const args = ['agent', `-node=${name}`, `-bind=${addr}:${GOSSIP_PORT}`, `-rpc-addr=${addr}:7373`, '-log-level=info', ...(join ? [`-join=${join}:${GOSSIP_PORT}`] : [])];
    this.views.forget(name);
    const child = startChild(this.ns.wrap('serf', args), (line, t) => {
      for (const [re, what] of SERF_LINES) {
        const m = re.exec(line);
        if (!m) continue;
        const r = what(m);
        if (r.member) {
          this.views.see(name, r.member[0], r.member[1]);
          this.emit('member', name, r.member[0], r.member[1], t);
        }
        if (r.entry) this.emit('entry', name, r.entry, t);
      }
    });
    this.agents.set(name, child);
  }

  private async rpcReady(name: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      try {
        await this.rpc(name, ['members']);
        return;
      } catch {
        await sleep(100);
      }
    }
    throw new Error(`serf agent ${name} did not start:\n${this.agents.get(name)?.tail()}`);
  }

  private rpc(name: string, args: string[]): Promise<string> {
    const [cmd, argv] = this.ns.wrap('serf', [args[0]!, `-rpc-addr=${this.addrs.get(name)}:7373`, ...args.slice(1)]);
    return run(cmd, argv);
  }
}

// ---- shoal processes ----

const NODE_SCRIPT = join(projectRoot, 'dist', 'bench', 'gossip-node.js');

/** shoal nodes, one process each (bench/gossip-node.ts), on real sockets at 127.0.x.(11+i):7946. */
export class ShoalProcessPool extends EventEmitter<PoolEvents> implements GossipPool {
  readonly label: string;
  readonly names: string[] = [];
  private readonly nodes = new Map<string, Child>();
  private readonly addrs = new Map<string, string>();
  private readonly views = new Views();
  private readonly waiting = new Map<string, (ev: Record<string, unknown>) => void>();

  constructor(
    private readonly ns: ScratchNetns,
    private readonly prefix: string,
  ) {
    super();
    this.label = 'shoal';
  }

  async start(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const name = `shoal${i + 1}`;
      this.addrs.set(name, addrOf(this.prefix, i));
      this.names.push(name);
    }
    await Promise.all(this.names.map((name) => this.spawnNode(name)));
    const seed = `${this.addrs.get(this.names[0]!)}:${GOSSIP_PORT}`;
    for (const name of this.names.slice(1)) await this.request(name, { cmd: 'join', addrs: [seed] }, 'joined');
    await waitFor(`${n} shoal nodes to see each other alive`, () => this.views.allAlive(this.names), 30_000, () => this.views.missing(this.names));
  }

  kill(name: string): number {
    const t0 = now();
    this.nodes.get(name)?.proc.kill('SIGKILL');
    return t0;
  }

  async write(name: string, key: string, seq: number): Promise<void> {
    this.send(name, { cmd: 'put', key, seq });
  }

  async leave(name: string): Promise<void> {
    const node = this.nodes.get(name);
    await this.request(name, { cmd: 'leave' }, 'left');
    await node?.exited;
    this.nodes.delete(name);
    this.views.forget(name);
  }

  async rejoin(name: string): Promise<void> {
    await this.spawnNode(name);
    const seed = this.names.find((x) => x !== name && this.nodes.has(x));
    if (seed) await this.request(name, { cmd: 'join', addrs: [`${this.addrs.get(seed)}:${GOSSIP_PORT}`] }, 'joined');
    await waitFor(`${name} to be back`, () => this.views.allAlive(this.names), 30_000);
  }

  /** Each live node's own traffic counters (Memberlist.stats), summed. */
  async selfCounted(): Promise<{ udpBytes: number; udpPackets: number; streamBytes: number }> {
    const all = await Promise.all([...this.nodes.keys()].map((name) => this.request(name, { cmd: 'stats' }, 'stats')));
    const sum = (k: string) => all.reduce((s, x) => s + Number(x[k] ?? 0), 0);
    return { udpBytes: sum('bytesOut'), udpPackets: sum('packetsOut'), streamBytes: sum('streamBytesOut') };
  }

  async close(): Promise<void> {
    await Promise.all([...this.nodes.values()].map(killChild));
    this.nodes.clear();
  }

  private async spawnNode(name: string): Promise<void> {
    this.views.forget(name);
    const args = JSON.stringify({ name, addr: this.addrs.get(name), port: GOSSIP_PORT });
    const ready = new Promise<void>((resolve, reject) => {
      const child = startChild(this.ns.wrap(process.execPath, [NODE_SCRIPT, args]), (line, t) => {
        let ev: Record<string, unknown>;
        try {
          ev = JSON.parse(line) as Record<string, unknown>;
        } catch {
          return;
        }
        if (ev.ev === 'ready') resolve();
        else if (ev.ev === 'member') {
          this.views.see(name, ev.name as string, ev.state === 'dead' ? 'failed' : (ev.state as ObservedState));
          this.emit('member', name, ev.name as string, ev.state === 'dead' ? 'failed' : (ev.state as ObservedState), t);
        } else if (ev.ev === 'entry') this.emit('entry', name, ev.key as string, t);
        else if (ev.ev === 'error') {
          console.error(`  shoal node ${name}: ${String(ev.message)}`);
          reject(new Error(`${name}: ${String(ev.message)}`));
        }
        const w = this.waiting.get(`${name}/${String(ev.ev)}`);
        if (w) {
          this.waiting.delete(`${name}/${String(ev.ev)}`);
          w(ev);
        }
      });
      this.nodes.set(name, child);
      void child.exited.then(() => reject(new Error(`shoal node ${name} exited before it was ready:\n${child.tail()}`)));
    });
    await ready;
  }

  private send(name: string, cmd: Record<string, unknown>): void {
    this.nodes.get(name)?.proc.stdin!.write(`${JSON.stringify(cmd)}\n`);
  }

  private request(name: string, cmd: Record<string, unknown>, reply: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not answer ${String(cmd.cmd)} within ${timeoutMs} ms:\n${this.nodes.get(name)?.tail()}`)), timeoutMs);
      this.waiting.set(`${name}/${reply}`, (ev) => { clearTimeout(timer); resolve(ev); });
      this.send(name, cmd);
    });
  }
}

// ---- shoal on the simulated transport ----

/** Where the n-th simulated node lives (any distinct IPv4 string will do on a SimNetwork). */
function simAddr(i: number): string {
  return `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

/** shoal nodes in this process, each a Memberlist + store on a SimTransport of one SimNetwork. */
export class SimPool extends EventEmitter<PoolEvents> implements GossipPool {
  readonly label: string;
  readonly names: string[] = [];
  readonly network: SimNetwork;
  private readonly nodes = new Map<string, ShoalNode>();
  private readonly addrs = new Map<string, string>();
  private readonly views = new Views();
  private readonly log = pino({ level: 'silent' });

  constructor(network: SimNetworkOptions, private readonly opts: { joinBatch?: number } = {}) {
    super();
    this.network = new SimNetwork(network);
    this.label = 'shoal (sim)';
  }

  node(name: string): ShoalNode | undefined {
    return this.nodes.get(name);
  }

  async start(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const name = `sim${i + 1}`;
      this.addrs.set(name, simAddr(i));
      this.names.push(name);
      await this.startNode(name);
    }
    const seed = `${this.addrs.get(this.names[0]!)}:${GOSSIP_PORT}`;
    // Joins in small concurrent batches: quick, without every node hitting the seed at once.
    const batch = this.opts.joinBatch ?? 10;
    const rest = this.names.slice(1);
    for (let i = 0; i < rest.length; i += batch) await Promise.all(rest.slice(i, i + batch).map((name) => this.nodes.get(name)!.memberlist.join([seed])));
    await waitFor(`${n} simulated nodes to see each other alive`, () => this.views.allAlive(this.names), 60_000 + n * 500);
  }

  kill(name: string): number {
    const t0 = now();
    void this.nodes.get(name)?.stop();
    this.nodes.delete(name);
    return t0;
  }

  async write(name: string, key: string, seq: number): Promise<void> {
    this.nodes.get(name)?.table.put(key, benchValue(seq, name));
  }

  async leave(name: string): Promise<void> {
    await this.nodes.get(name)?.leave();
    this.nodes.delete(name);
    this.views.forget(name);
  }

  async rejoin(name: string): Promise<void> {
    await this.startNode(name);
    const seed = this.names.find((x) => x !== name && this.nodes.has(x));
    if (seed) await this.nodes.get(name)!.memberlist.join([`${this.addrs.get(seed)}:${GOSSIP_PORT}`]);
    await waitFor(`${name} to be back`, () => this.views.allAlive(this.names), 30_000);
  }

  /** Gossip bytes sent by all live nodes, from their own counters. */
  selfCounted(): { udpBytes: number; udpPackets: number; streamBytes: number } {
    let udpBytes = 0;
    let udpPackets = 0;
    let streamBytes = 0;
    for (const n of this.nodes.values()) {
      udpBytes += n.memberlist.stats.bytesOut;
      udpPackets += n.memberlist.stats.packetsOut;
      streamBytes += n.memberlist.stats.streamBytesOut;
    }
    return { udpBytes, udpPackets, streamBytes };
  }

  async close(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.stop()));
    this.nodes.clear();
  }

  private async startNode(name: string): Promise<void> {
    this.views.forget(name);
    const node = createShoalNode({ name, addr: this.addrs.get(name)!, transport: this.network.transport(), log: this.log });
    node.memberlist.on('join', (m) => { this.views.see(name, m.name, 'alive'); this.emit('member', name, m.name, 'alive', now()); });
    node.memberlist.on('leave', (m) => {
      const state: ObservedState = m.state === 'left' ? 'left' : 'failed';
      this.views.see(name, m.name, state);
      this.emit('member', name, m.name, state, now());
    });
    node.store.watch((e) => {
      if (e.entry.table === BENCH_TABLE) this.emit('entry', name, e.entry.key, now());
    });
    this.nodes.set(name, node);
    await node.start();
  }
}
