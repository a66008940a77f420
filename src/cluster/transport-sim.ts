// A simulated network for memberlist nodes in one process: datagrams and connections delivered in
// memory after a configurable latency (plus jitter), datagrams lost with a configurable probability,
// endpoints that can be cut off. Randomness comes from a seeded generator, so loss and jitter repeat
// from run to run (the nodes' own choices still use Math.random). Used by the gossip benchmark to
// run pools of hundreds of nodes and by unit tests; it never touches a socket.
//
// Faithful where memberlist can tell: a datagram to a port nobody listens on vanishes; a dial to it
// fails with ECONNREFUSED; a dial to a cut-off endpoint hangs until the caller gives up; a stream
// delivers its bytes in order and then 'end'. Timers have Node's 1 ms granularity.
import { EventEmitter } from 'node:events';
import type { PacketSource, Stream, Transport, TransportHandlers } from './transport.js';

export interface SimNetworkOptions {
  /** One-way delay of every datagram and stream chunk, in ms. */
  latencyMs?: number;
  /** Extra one-way delay drawn uniformly from [0, jitterMs) per datagram (streams keep their order). */
  jitterMs?: number;
  /** Probability that a datagram is lost (streams are reliable, as TCP is). */
  loss?: number;
  /** Seed of the generator behind loss and jitter. */
  seed?: number;
}

export interface SimNetworkStats {
  packetsSent: number;
  packetsDelivered: number;
  /** Lost on purpose (loss), sent to a cut-off endpoint, or to a port nobody listens on. */
  packetsDropped: number;
  packetBytes: number;
  streamsOpened: number;
  streamsRefused: number;
  streamBytes: number;
}

/** mulberry32: a small, fast, seedable generator; good enough for loss and jitter. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const endpointKey = (addr: string, port: number): string => `${addr}:${port}`;

export class SimNetwork {
  readonly stats: SimNetworkStats = { packetsSent: 0, packetsDelivered: 0, packetsDropped: 0, packetBytes: 0, streamsOpened: 0, streamsRefused: 0, streamBytes: 0 };
  private readonly endpoints = new Map<string, TransportHandlers>();
  private readonly cut = new Set<string>();
  private readonly random: () => number;
  private latencyMs: number;
  private jitterMs: number;
  private loss: number;

  constructor(opts: SimNetworkOptions = {}) {
    this.latencyMs = opts.latencyMs ?? 0;
    this.jitterMs = opts.jitterMs ?? 0;
    this.loss = opts.loss ?? 0;
    this.random = seededRandom(opts.seed ?? 1);
  }

  /** A transport for one node on this network. */
  transport(): SimTransport {
    return new SimTransport(this);
  }

  /** Changes loss or delay for everything sent from now on. */
  configure(opts: Omit<SimNetworkOptions, 'seed'>): void {
    if (opts.latencyMs !== undefined) this.latencyMs = opts.latencyMs;
    if (opts.jitterMs !== undefined) this.jitterMs = opts.jitterMs;
    if (opts.loss !== undefined) this.loss = opts.loss;
  }

  /** Cuts an address off: nothing reaches it or leaves it, dials to it hang (a host that vanished, or a partition). */
  isolate(addr: string): void {
    this.cut.add(addr);
  }

  heal(addr: string): void {
    this.cut.delete(addr);
  }

  /** One-way delay for a stream chunk (no jitter, so order holds). */
  get streamDelayMs(): number {
    return this.latencyMs;
  }

  register(addr: string, port: number, handlers: TransportHandlers): void {
    const key = endpointKey(addr, port);
    if (this.endpoints.has(key)) throw Object.assign(new Error(`listen EADDRINUSE: address already in use ${key}`), { code: 'EADDRINUSE' });
    this.endpoints.set(key, handlers);
  }

  unregister(addr: string, port: number): void {
    this.endpoints.delete(endpointKey(addr, port));
  }

  sendPacket(from: PacketSource, buf: Uint8Array, addr: string, port: number): void {
    this.stats.packetsSent++;
    this.stats.packetBytes += buf.length;
    if (this.cut.has(from.address) || this.cut.has(addr) || (this.loss > 0 && this.random() < this.loss)) {
      this.stats.packetsDropped++;
      return;
    }
    const copy = Buffer.from(buf);
    const delay = this.latencyMs + (this.jitterMs > 0 ? this.random() * this.jitterMs : 0);
    later(delay, () => {
      const target = this.endpoints.get(endpointKey(addr, port));
      if (!target || this.cut.has(addr)) {
        this.stats.packetsDropped++;
        return;
      }
      this.stats.packetsDelivered++;
      target.packet(copy, { address: from.address, port: from.port });
    });
  }

  dial(fromAddr: string, addr: string, port: number): SimStream {
    const client = new SimStream(this, addr);
    if (this.cut.has(fromAddr) || this.cut.has(addr)) return client; // SYNs vanish: the caller's deadline decides
    later(this.latencyMs, () => {
      const target = this.endpoints.get(endpointKey(addr, port));
      if (!target || this.cut.has(addr)) {
        this.stats.streamsRefused++;
        client.fail(Object.assign(new Error(`connect ECONNREFUSED ${endpointKey(addr, port)}`), { code: 'ECONNREFUSED' }));
        return;
      }
      this.stats.streamsOpened++;
      const server = new SimStream(this, fromAddr);
      client.pair(server);
      server.pair(client);
      target.stream(server);
      client.connected();
    });
    return client;
  }

  countStreamBytes(n: number): void {
    this.stats.streamBytes += n;
  }
}

/** Something in flight: like bytes in a socket buffer, it keeps the process alive until delivered. */
function later(ms: number, fn: () => void): void {
  setTimeout(fn, ms);
}

/** One end of a simulated connection. Chunks reach the peer in order, each after the network's latency. */
export class SimStream extends EventEmitter implements Stream {
  private peer: SimStream | undefined;
  private ended = false;
  private peerEnded = false;
  private destroyed = false;
  private idleMs = 0;
  private onIdle: (() => void) | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly inbox: { at: number; deliver: () => void }[] = [];
  private pumpTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly network: SimNetwork,
    readonly remoteAddress: string,
  ) {
    super();
  }

  pair(peer: SimStream): void {
    this.peer = peer;
  }

  connected(): void {
    if (this.destroyed) {
      this.peer?.arrive(() => this.peer?.remoteEnd());
      return;
    }
    this.touch();
    this.emit('connect');
  }

  fail(err: Error): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('error', err);
    this.emit('close');
  }

  write(data: Uint8Array): boolean {
    if (this.ended || this.destroyed || !this.peer) return false;
    const chunk = Buffer.from(data);
    if (chunk.length === 0) return true;
    this.network.countStreamBytes(chunk.length);
    this.touch();
    this.peer.arrive(() => this.peer?.receive(chunk));
    return true;
  }

  end(data?: Uint8Array): this {
    if (data) this.write(data);
    if (this.ended || this.destroyed) return this;
    this.ended = true;
    this.peer?.arrive(() => this.peer?.remoteEnd());
    this.maybeClose();
    return this;
  }

  destroy(): this {
    if (this.destroyed) return this;
    const wasEnded = this.ended;
    this.destroyed = true;
    this.ended = true;
    this.clearIdle();
    if (!wasEnded) this.peer?.arrive(() => this.peer?.remoteEnd());
    setImmediate(() => this.emit('close'));
    return this;
  }

  setTimeout(ms: number, onTimeout: () => void): this {
    this.idleMs = ms;
    this.onIdle = onTimeout;
    this.touch();
    return this;
  }

  /** Queues something to happen at this end after the network's delay, in order with earlier arrivals. */
  private arrive(deliver: () => void): void {
    const last = this.inbox.at(-1)?.at ?? 0;
    this.inbox.push({ at: Math.max(last, Date.now() + this.network.streamDelayMs), deliver });
    this.pump();
  }

  private pump(): void {
    if (this.pumpTimer || this.inbox.length === 0) return;
    const wait = Math.max(0, this.inbox[0]!.at - Date.now());
    this.pumpTimer = setTimeout(() => {
      this.pumpTimer = undefined;
      const now = Date.now();
      while (this.inbox.length > 0 && this.inbox[0]!.at <= now) this.inbox.shift()!.deliver();
      this.pump();
    }, wait);
  }

  private receive(chunk: Buffer): void {
    if (this.destroyed) return;
    this.touch();
    this.emit('data', chunk);
  }

  private remoteEnd(): void {
    if (this.destroyed || this.peerEnded) return;
    this.peerEnded = true;
    this.emit('end');
    this.maybeClose();
  }

  private maybeClose(): void {
    if (this.ended && this.peerEnded && !this.destroyed) {
      this.destroyed = true;
      this.clearIdle();
      setImmediate(() => this.emit('close'));
    }
  }

  private touch(): void {
    this.clearIdle();
    if (this.idleMs > 0 && this.onIdle && !this.destroyed) {
      const fn = this.onIdle;
      this.idleTimer = setTimeout(() => fn(), this.idleMs);
      this.idleTimer.unref();
    }
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}

/** A node's attachment to a SimNetwork. */
export class SimTransport implements Transport {
  private bound: PacketSource | undefined;
  /** A listening transport keeps the process alive, as a bound socket does. */
  private keepAlive: NodeJS.Timeout | undefined;

  constructor(private readonly network: SimNetwork) {}

  async listen(addr: string, port: number, handlers: TransportHandlers): Promise<void> {
    this.network.register(addr, port, handlers);
    this.bound = { address: addr, port };
    this.keepAlive = setInterval(() => {}, 1 << 30);
  }

  sendPacket(buf: Uint8Array, addr: string, port: number): void {
    if (!this.bound) throw new Error('send on a transport that is not listening');
    this.network.sendPacket(this.bound, buf, addr, port);
  }

  dial(addr: string, port: number): Stream {
    return this.network.dial(this.bound?.address ?? '0.0.0.0', addr, port);
  }

  async close(): Promise<void> {
    if (this.bound) this.network.unregister(this.bound.address, this.bound.port);
    this.bound = undefined;
    clearInterval(this.keepAlive);
    this.keepAlive = undefined;
  }
}
