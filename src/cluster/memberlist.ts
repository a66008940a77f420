// A memberlist node: UDP and TCP on the gossip port, the SWIM probe cycle with Lifeguard (indirect
// probes, nacks, TCP fallback, local health), gossip of membership updates, push-pull anti-entropy,
// join and graceful leave. Wire-compatible with hashicorp/memberlist, so Go nodes (Serf) can share
// the pool. Decisions about membership live in Members; bytes in wire/; sockets behind the
// Transport seam (transport.ts; real UDP/TCP by default); this file moves bytes between them.
import { EventEmitter } from 'node:events';
import { Awareness } from './awareness.js';
import { BroadcastQueue } from './broadcast-queue.js';
import { defaultMembershipConfig, pushPullIntervalFor, type MembershipConfig } from './config.js';
import { Members, STATE_BY_CODE, STATE_CODES, type Member, type Update, type Vsn } from './members.js';
import { COMPOUND_HEADER, COMPOUND_PART_OVERHEAD } from './wire/compound.js';
import { WireError } from './wire/errors.js';
import { encodeAck, encodeAlive, encodeDead, encodeIndirectPing, encodeNack, encodePing, encodeSuspect, type Message } from './wire/messages.js';
import { decodePacket, decodeStream, streamBytesNeeded, encodeErrStream, encodePacket, encodePushPullStream, encodeStreamMessage, type StreamMessage, type WireOptions } from './wire/packet.js';
import { ENCRYPT_OVERHEAD, type Keyring } from './wire/security.js';
import { NetTransport, type PacketSource, type Stream, type Transport } from './transport.js';
import type { Logger } from '../util/log.js';

/** What the application layered on gossip provides (memberlist's Delegate): its messages and its state. */
export interface GossipDelegate {
  /** A user message arrived (UDP gossip or TCP). */
  notifyMsg(payload: Uint8Array): void;
  /** State to send in a push-pull. */
  localState(join: boolean): Uint8Array;
  /** A peer's state from a push-pull. */
  mergeRemoteState(state: Uint8Array, join: boolean): void;
}

export interface MemberlistOptions {
  name: string;
  /** Address to bind and advertise (the node's own address on the cluster network). */
  addr: string;
  port?: number;
  meta?: Uint8Array;
  keyring?: Keyring;
  config?: Partial<MembershipConfig>;
  delegate?: GossipDelegate;
  /** The network: real UDP/TCP sockets unless given (the benchmark and unit tests pass a simulated one). */
  transport?: Transport;
  log: Logger;
}

export interface MemberlistStats {
  /** Packets dropped as malformed, by WireError code. */
  dropped: Record<string, number>;
  packetsIn: number;
  packetsOut: number;
  /** Bytes of gossip datagrams received and sent (UDP payload, no IP/UDP headers). */
  bytesIn: number;
  bytesOut: number;
  /** Bytes read from and written to gossip streams (TCP payload), in both directions of each exchange. */
  streamBytesIn: number;
  streamBytesOut: number;
}

interface AckWaiter {
  resolve: (ok: boolean) => void;
  nack?: () => void;
  timer: NodeJS.Timeout;
}

export class Memberlist extends EventEmitter<{ join: [Member]; leave: [Member]; update: [Member]; user: [Uint8Array] }> {
  readonly cfg: MembershipConfig;
  readonly members: Members;
  /** Incoming TCP streams open now, and the bytes they hold before their message is complete. */
  private openStreams = 0;
  private streamBytesHeld = 0;
  readonly stats: MemberlistStats = { dropped: {}, packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0, streamBytesIn: 0, streamBytesOut: 0 };
  private readonly transport: Transport;
  private readonly queue: BroadcastQueue;
  private readonly awareness: Awareness;
  private readonly acks = new Map<number, AckWaiter>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly log: Logger;
  private seq = 0;
  private probeOrder: string[] = [];
  private probeIndex = 0;
  private running = false;
  private probeTimer: NodeJS.Timeout | undefined;
  private pushPullTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: MemberlistOptions) {
    super();
    this.cfg = { ...defaultMembershipConfig, ...opts.config };
    this.log = opts.log;
    this.transport = opts.transport ?? new NetTransport();
    this.awareness = new Awareness(this.cfg.awarenessMaxMultiplier);
    this.queue = new BroadcastQueue(this.cfg.retransmitMult, () => this.members.size, this.cfg.maxBroadcastQueueDepth);
    const vsn: Vsn = [this.cfg.protocolMin, this.cfg.protocolMax, this.cfg.protocolVersion, this.cfg.delegateMin, this.cfg.delegateMax, this.cfg.delegateVersion];
    this.members = new Members({
      self: { name: opts.name, addr: opts.addr, port: this.port, meta: opts.meta ?? new Uint8Array(), vsn },
      broadcast: (u) => this.queueUpdate(u),
      suspicionMult: this.cfg.suspicionMult,
      suspicionMaxTimeoutMult: this.cfg.suspicionMaxTimeoutMult,
      probeIntervalMs: this.cfg.probeIntervalMs,
      onRefute: () => this.awareness.apply(1),
    });
    this.members.on('join', (m) => { this.log.info({ member: m.name, addr: `${m.addr}:${m.port}` }, 'member joined'); this.emit('join', m); });
    this.members.on('leave', (m) => { this.log.info({ member: m.name, state: m.state }, m.state === 'left' ? 'member left' : 'member failed'); this.emit('leave', m); });
    this.members.on('update', (m) => this.emit('update', m));
  }

  get port(): number {
    return this.opts.port ?? this.cfg.bindPort;
  }

  private get wire(): WireOptions {
    return { keyring: this.opts.keyring, verifyIncoming: this.cfg.gossipVerifyIncoming, verifyOutgoing: this.cfg.gossipVerifyOutgoing, compress: this.cfg.enableCompression };
  }

  async start(): Promise<void> {
    await this.transport.listen(this.opts.addr, this.port, {
      packet: (buf, from) => this.onPacket(buf, from),
      stream: (conn) => this.onStream(conn),
      error: (err) => this.log.error({ err }, 'gossip UDP socket error'),
    });
    this.running = true;
    this.members.announceSelf();
    this.scheduleProbe(Math.random() * this.cfg.probeIntervalMs);
    this.every(this.cfg.gossipIntervalMs, () => this.gossip());
    this.every(this.cfg.gossipToTheDeadMs / 2, () => this.members.reap(this.cfg.gossipToTheDeadMs));
    this.pushPullTimer = setTimeout(() => this.schedulePushPull(), Math.random() * this.cfg.pushPullIntervalMs);
    this.pushPullTimer.unref();
    this.log.info({ addr: `${this.opts.addr}:${this.port}`, encrypted: (this.opts.keyring?.size ?? 0) > 0 }, 'gossip started');
  }

  /** Joins a pool through any of the given "host:port" addresses (a TCP push-pull with each). Returns how many answered. */
  async join(addrs: readonly string[]): Promise<number> {
    let ok = 0;
    const errors: string[] = [];
    for (const a of addrs) {
      try {
        const [host, port] = splitHostPort(a, this.cfg.bindPort);
        await this.pushPull(host, port, true);
        ok++;
      } catch (err) {
        errors.push(`${a}: ${(err as Error).message}`);
      }
    }
    if (ok === 0 && addrs.length > 0) throw new Error(`could not join the pool: ${errors.join('; ')}`);
    return ok;
  }

  /** Graceful leave: broadcast our departure and give it time to spread. */
  async leave(timeoutMs = 3000): Promise<void> {
    this.members.leave();
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length > 0 && Date.now() < deadline && this.members.list().some((m) => m.name !== this.opts.name && m.state === 'alive')) {
      this.gossip();
      await sleep(this.cfg.gossipIntervalMs);
    }
  }

  async shutdown(): Promise<void> {
    this.running = false;
    for (const t of this.timers) clearTimeout(t), clearInterval(t);
    if (this.probeTimer) clearTimeout(this.probeTimer);
    if (this.pushPullTimer) clearTimeout(this.pushPullTimer);
    for (const w of this.acks.values()) clearTimeout(w.timer);
    this.acks.clear();
    this.members.stop();
    await this.transport.close();
  }

  /**
   * Spreads an application message to every member by gossip (piggybacked, retransmitted a bounded
   * number of times). Returns false for a message too large for one packet: push-pull carries that.
   */
  broadcastUser(payload: Uint8Array, subject?: string): boolean {
    if (1 + payload.length + COMPOUND_PART_OVERHEAD > this.budget()) return false;
    this.queue.queue({ subject: subject === undefined ? undefined : `user:${subject}`, message: Buffer.concat([Uint8Array.of(8), payload]) });
    return true;
  }

  /**
   * Sends an application message to one member, best effort (one UDP packet, with queued
   * broadcasts piggybacked), as memberlist's SendBestEffort. False when it does not fit in a
   * packet or the member is not known to be alive.
   */
  sendUserTo(name: string, payload: Uint8Array): boolean {
    const m = this.members.get(name);
    if (!m || m.state !== 'alive' || name === this.opts.name) return false;
    const msg = Buffer.concat([Uint8Array.of(8), payload]);
    if (msg.length + COMPOUND_PART_OVERHEAD > this.budget()) return false;
    this.send(m.addr, m.port, msg, m.vsn[1] >= 5);
    return true;
  }

  // ---- outgoing ----

  private queueUpdate(u: Update): void {
    const msg = u.kind === 'alive' ? encodeAlive({ node: u.name, addr: u.addr, port: u.port, meta: u.meta, vsn: u.vsn, incarnation: u.incarnation })
      : u.kind === 'suspect' ? encodeSuspect({ node: u.name, incarnation: u.incarnation, from: u.from })
      : encodeDead({ node: u.name, incarnation: u.incarnation, from: u.from });
    this.queue.queue({ subject: u.name, message: msg });
  }

  private budget(): number {
    return this.cfg.udpBufferSize - COMPOUND_HEADER - ((this.opts.keyring?.size ?? 0) > 0 ? ENCRYPT_OVERHEAD : 0);
  }

  /**
   * Sends msg to addr:port with as many queued broadcasts as fit piggybacked. Like memberlist's
   * rawSendMsgPacket, every datagram is compressed when compression is on and makes it smaller.
   */
  private send(addr: string, port: number, msg: Uint8Array | undefined, crc: boolean): void {
    const room = this.budget() - (msg ? msg.length + COMPOUND_PART_OVERHEAD : 0);
    const extra = this.queue.take(COMPOUND_PART_OVERHEAD, room);
    const parts = msg ? [msg, ...extra] : extra;
    if (parts.length === 0) return;
    this.sendPacket(encodePacket(parts, { ...this.wire, crc }), addr, port);
  }

  private sendPacket(packet: Uint8Array, addr: string, port: number): void {
    // A probe or relay still in flight when we shut down must not write to a closed socket (it throws).
    if (!this.running) return;
    this.stats.packetsOut++;
    this.stats.bytesOut += packet.length;
    this.transport.sendPacket(packet, addr, port);
  }

  private crcFor(addr: string, port: number): boolean {
    const m = this.members.list().find((x) => x.addr === addr && x.port === port);
    return m !== undefined && m.vsn[1] >= 5;
  }

  private gossip(): void {
    if (this.queue.length === 0) return;
    const now = Date.now();
    const targets = shuffle(this.members.list().filter((m) => m.name !== this.opts.name && (m.state === 'alive' || m.state === 'suspect' || (m.state === 'dead' && now - m.stateChange < this.cfg.gossipToTheDeadMs)))).slice(0, this.cfg.gossipNodes);
    for (const m of targets) this.send(m.addr, m.port, undefined, m.vsn[1] >= 5);
  }

  // ---- probing ----

  private scheduleProbe(delay: number): void {
    if (!this.running) return;
    this.probeTimer = setTimeout(() => {
      void this.probeNext().finally(() => this.scheduleProbe(this.awareness.scale(this.cfg.probeIntervalMs)));
    }, delay);
    this.probeTimer.unref();
  }

  private nextTarget(): Member | undefined {
    for (let checked = 0; checked <= this.probeOrder.length; checked++) {
      if (this.probeIndex >= this.probeOrder.length) {
        this.probeOrder = shuffle(this.members.list().map((m) => m.name));
        this.probeIndex = 0;
        if (this.probeOrder.length === 0) return undefined;
      }
      const m = this.members.get(this.probeOrder[this.probeIndex++]!);
      if (m && m.name !== this.opts.name && (m.state === 'alive' || m.state === 'suspect')) return m;
    }
    return undefined;
  }

  private async probeNext(): Promise<void> {
    const target = this.nextTarget();
    if (!target) return;
    const seqNo = this.nextSeq();
    const interval = this.awareness.scale(this.cfg.probeIntervalMs);
    const ping = encodePing({ node: target.name, seqNo, sourceAddr: this.opts.addr, sourcePort: this.port, sourceNode: this.opts.name });
    let nacks = 0;
    const acked = this.waitAck(seqNo, interval, () => nacks++);
    if (target.state === 'suspect') {
      // Lifeguard's buddy system: tell a suspect it is suspected, so it can refute at once.
      const packet = encodePacket([ping, encodeSuspect({ node: target.name, incarnation: target.incarnation, from: this.opts.name })], { ...this.wire, crc: target.vsn[1] >= 5 });
      this.sendPacket(packet, target.addr, target.port);
    } else {
      this.send(target.addr, target.port, ping, false);
    }
    const direct = await Promise.race([acked, sleep(this.cfg.probeTimeoutMs).then(() => false)]);
    if (direct) {
      this.awareness.apply(-1);
      return;
    }
    const relays = shuffle(this.members.list().filter((m) => m.name !== this.opts.name && m.name !== target.name && m.state === 'alive')).slice(0, this.cfg.indirectChecks);
    let expectedNacks = 0;
    for (const r of relays) {
      const nack = r.vsn[1] >= 4;
      if (nack) expectedNacks++;
      this.send(r.addr, r.port, encodeIndirectPing({ seqNo, target: target.addr, port: target.port, node: target.name, nack, sourceAddr: this.opts.addr, sourcePort: this.port, sourceNode: this.opts.name }), false);
    }
    const tcpOk = !this.cfg.disableTcpPings && target.vsn[1] >= 3 ? this.tcpPing(target, seqNo, interval).catch(() => false) : Promise.resolve(false);
    const [ok, viaTcp] = await Promise.all([acked, tcpOk]);
    if (ok || viaTcp) {
      if (!ok) this.log.warn({ member: target.name }, 'reached over TCP but UDP probes failed');
      this.awareness.apply(-1);
      return;
    }
    this.awareness.apply(expectedNacks > 0 ? expectedNacks - nacks : 1);
    this.log.debug({ member: target.name }, 'probe failed, suspecting');
    this.members.suspect(target.name);
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }

  private waitAck(seqNo: number, timeoutMs: number, onNack?: () => void): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.acks.delete(seqNo); resolve(false); }, timeoutMs);
      timer.unref();
      this.acks.set(seqNo, { resolve: (ok) => { clearTimeout(timer); this.acks.delete(seqNo); resolve(ok); }, nack: onNack, timer });
    });
  }

  private async tcpPing(target: Member, seqNo: number, timeoutMs: number): Promise<boolean> {
    const reply = await this.exchange(target.addr, target.port, encodeStreamMessage(encodePing({ node: target.name, seqNo, sourceAddr: this.opts.addr, sourcePort: this.port, sourceNode: this.opts.name }), { ...this.wire, compress: false }), timeoutMs);
    return reply.type === 'ack' && reply.seqNo === seqNo;
  }

  // ---- push-pull ----

  /**
   * memberlist's pushPullTrigger: start() waits a random stagger of up to one interval (so that nodes
   * started together do not all exchange state in the same instant, every interval), then one
   * exchange per interval, scaled to the pool's size, counted from the end of the previous one.
   */
  private schedulePushPull(): void {
    if (!this.running) return;
    this.pushPullTimer = setTimeout(() => {
      void this.pushPullRandom().finally(() => this.schedulePushPull());
    }, pushPullIntervalFor(this.cfg.pushPullIntervalMs, this.members.size));
    this.pushPullTimer.unref();
  }

  private async pushPullRandom(): Promise<void> {
    const peers = this.members.list().filter((m) => m.name !== this.opts.name && m.state === 'alive');
    const peer = peers[Math.floor(Math.random() * peers.length)];
    if (!peer) return;
    try {
      await this.pushPull(peer.addr, peer.port, false);
    } catch (err) {
      this.log.warn({ member: peer.name, err: (err as Error).message }, 'push-pull failed');
    }
  }

  private localState() {
    return this.members.localState().map((n) => ({ name: n.name, addr: n.addr, port: n.port, meta: n.meta, incarnation: n.incarnation, state: STATE_CODES[n.state], vsn: n.vsn }));
  }

  private async pushPull(host: string, port: number, join: boolean): Promise<void> {
    const userState = this.opts.delegate?.localState(join);
    const reply = await this.exchange(host, port, encodePushPullStream({ join, nodes: this.localState(), userState }, this.wire), this.cfg.tcpTimeoutMs);
    if (reply.type === 'err') throw new Error(`remote error: ${reply.error}`);
    if (reply.type !== 'pushPull') throw new Error(`expected a push-pull reply, got ${reply.type}`);
    this.mergeRemote(reply.pushPull.nodes);
    this.mergeUserState(reply.pushPull.userState, join);
  }

  private mergeRemote(nodes: readonly { name: string; addr: string; port: number; meta: Uint8Array; incarnation: number; state: number; vsn: Vsn }[]): void {
    this.members.mergeRemoteState(nodes.map((n) => ({ name: n.name, addr: n.addr, port: n.port, meta: n.meta, incarnation: n.incarnation, vsn: n.vsn, state: STATE_BY_CODE[n.state] ?? 'dead' })));
  }

  /** One TCP exchange: send a framed stream message, read the peer's reply. */
  private exchange(host: string, port: number, payload: Buffer, timeoutMs: number): Promise<StreamMessage> {
    return new Promise((resolve, reject) => {
      const sock = this.transport.dial(host, port);
      let buf = Buffer.alloc(0);
      const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no reply from ${host}:${port} within ${timeoutMs} ms`)); }, timeoutMs);
      timer.unref();
      const done = (err?: Error, msg?: StreamMessage) => { clearTimeout(timer); sock.destroy(); if (err) reject(err); else resolve(msg!); };
      sock.on('connect', () => this.writeStream(sock, payload));
      sock.on('data', (c: Buffer) => {
        this.stats.streamBytesIn += c.length;
        buf = Buffer.concat([buf, c]);
        try {
          const r = decodeStream(buf, this.wire);
          if (r) done(undefined, r.message);
        } catch (err) {
          done(err as Error);
        }
      });
      sock.on('error', (err) => done(err));
      sock.on('end', () => done(new Error(`${host}:${port} closed the connection without a complete reply`)));
    });
  }

  // ---- incoming ----

  private drop(err: unknown, from: string): void {
    const code = err instanceof WireError ? err.code : 'INTERNAL';
    this.stats.dropped[code] = (this.stats.dropped[code] ?? 0) + 1;
    this.log.debug({ from, code, err: (err as Error).message }, 'dropped malformed gossip');
  }

  private onPacket(buf: Buffer, rinfo: PacketSource): void {
    this.stats.packetsIn++;
    this.stats.bytesIn += buf.length;
    let decoded;
    try {
      decoded = decodePacket(buf, this.wire);
    } catch (err) {
      this.drop(err, rinfo.address);
      return;
    }
    for (const e of decoded.errors) this.drop(e, rinfo.address);
    for (const m of decoded.messages) {
      try {
        this.handle(m, rinfo);
      } catch (err) {
        this.drop(err, rinfo.address);
      }
    }
  }

  private handle(m: Message, rinfo: PacketSource): void {
    switch (m.type) {
      case 'ping': {
        if (m.node !== '' && m.node !== this.opts.name) return;
        const [addr, port] = m.sourceAddr && m.sourcePort ? [m.sourceAddr, m.sourcePort] : [rinfo.address, rinfo.port];
        this.send(addr, port, encodeAck({ seqNo: m.seqNo, payload: null }), false);
        return;
      }
      case 'indirectPing': {
        const seqNo = this.nextSeq();
        const [addr, port] = m.sourceAddr && m.sourcePort ? [m.sourceAddr, m.sourcePort] : [rinfo.address, rinfo.port];
        void this.waitAck(seqNo, this.cfg.probeTimeoutMs).then((ok) => {
          if (ok) this.send(addr, port, encodeAck({ seqNo: m.seqNo, payload: null }), false);
          else if (m.nack) this.send(addr, port, encodeNack({ seqNo: m.seqNo }), false);
        });
        this.send(m.target, m.port, encodePing({ node: m.node, seqNo, sourceAddr: this.opts.addr, sourcePort: this.port, sourceNode: this.opts.name }), false);
        return;
      }
      case 'ack':
        this.acks.get(m.seqNo)?.resolve(true);
        return;
      case 'nack':
        this.acks.get(m.seqNo)?.nack?.();
        return;
      case 'alive':
        this.members.handleAlive({ name: m.node, addr: m.addr, port: m.port, meta: m.meta, vsn: m.vsn, incarnation: m.incarnation });
        return;
      case 'suspect':
        this.members.handleSuspect({ name: m.node, incarnation: m.incarnation, from: m.from });
        return;
      case 'dead':
        this.members.handleDead({ name: m.node, incarnation: m.incarnation, from: m.from });
        return;
      case 'user':
        this.deliverUser(m.payload);
        return;
    }
  }

  private onStream(sock: Stream): void {
    let buf = Buffer.alloc(0);
    let need: number | undefined;
    let held = 0;
    const release = () => { this.streamBytesHeld -= held; held = 0; };
    if (this.openStreams >= this.cfg.maxIncomingStreams) {
      this.drop(new WireError('TOO_MANY_STREAMS', `${this.openStreams} streams already open`), sock.remoteAddress ?? '?');
      sock.destroy();
      return;
    }
    this.openStreams++;
    sock.on('close', () => { this.openStreams--; release(); });
    sock.setTimeout(this.cfg.tcpTimeoutMs, () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('data', (c: Buffer) => {
      this.stats.streamBytesIn += c.length;
      if (this.streamBytesHeld + c.length > this.cfg.incomingStreamBudgetBytes) {
        this.drop(new WireError('OVER_BUDGET', `incoming streams already hold ${this.streamBytesHeld} bytes`), sock.remoteAddress ?? '?');
        sock.destroy();
        return;
      }
      buf = Buffer.concat([buf, c]);
      held += c.length;
      this.streamBytesHeld += c.length;
      let r;
      try {
        need ??= streamBytesNeeded(buf, this.wire);
        if (need !== undefined && buf.length < need) return; // the frame is not complete yet
        r = decodeStream(buf, this.wire);
      } catch (err) {
        this.drop(err, sock.remoteAddress ?? '?');
        this.endStream(sock, encodeErrStream((err as Error).message, { ...this.wire, compress: false }));
        return;
      }
      if (!r) return;
      release();
      const msg = r.message;
      if (msg.type === 'pushPull') {
        // Reply with our state before merging theirs, as memberlist does.
        const join = msg.pushPull.header.join;
        this.endStream(sock, encodePushPullStream({ join, nodes: this.localState(), userState: this.opts.delegate?.localState(join) }, this.wire));
        this.mergeRemote(msg.pushPull.nodes);
        this.mergeUserState(msg.pushPull.userState, join);
      } else if (msg.type === 'ping') {
        if (msg.node === '' || msg.node === this.opts.name) this.endStream(sock, encodeStreamMessage(encodeAck({ seqNo: msg.seqNo, payload: null }), { ...this.wire, compress: false }));
        else sock.end();
      } else if (msg.type === 'user') {
        this.deliverUser(msg.payload);
        sock.end();
      } else {
        sock.end();
      }
    });
  }

  private writeStream(sock: Stream, data: Uint8Array): void {
    this.stats.streamBytesOut += data.length;
    sock.write(data);
  }

  private endStream(sock: Stream, data: Uint8Array): void {
    this.stats.streamBytesOut += data.length;
    sock.end(data);
  }

  private deliverUser(payload: Uint8Array): void {
    this.emit('user', payload);
    try {
      this.opts.delegate?.notifyMsg(payload);
    } catch (err) {
      this.drop(err, 'user message');
    }
  }

  private mergeUserState(state: Uint8Array, join: boolean): void {
    if (state.length === 0 || !this.opts.delegate) return;
    try {
      this.opts.delegate.mergeRemoteState(state, join);
    } catch (err) {
      this.drop(err, 'push-pull user state');
    }
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }
}

function splitHostPort(a: string, defaultPort: number): [string, number] {
  const i = a.lastIndexOf(':');
  if (i < 0) return [a, defaultPort];
  const port = Number(a.slice(i + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`'${a}' has no valid port`);
  return [a.slice(0, i), port];
}

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
