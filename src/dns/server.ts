// The DNS server: listeners (UDP + TCP on one address and port, in any namespace), each answering
// for a view (an ordered list of network IDs), all sharing one ZoneSet, one answer cache per
// distinct view, one forwarder and one event loop. A query goes: scan (wire.ts) -> the view's cache
// of pre-encoded replies (cache.ts, template.ts) -> on a miss, lookup (lookup.ts) and encode once ->
// or, for a name the view does not know, the forwarder. Nothing thrown escapes a socket handler.
import dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from 'pino';
import type { Netns } from '../kernel/netns.js';
import { AnswerCache } from './cache.js';
import { defaultDnsConfig, type DnsConfig } from './config.js';
import { Forwarder, type ForwarderOptions } from './forwarder.js';
import { lookup } from './lookup.js';
import { emptyDnsStats, type DnsStats, type TransportStats } from './stats.js';
import { TcpQueryConnection } from './tcp.js';
import { buildTemplate, isTruncated, serveTemplate, type Template } from './template.js';
import {
  badversReply,
  emptyReply,
  HEADER_SIZE,
  lowerByte,
  MAX_MESSAGE_SIZE,
  PARSE_BADVERS,
  PARSE_MALFORMED,
  PARSE_NOTIMP,
  PARSE_OK,
  ParsedQuery,
  parseQuery,
  questionName,
  RCODE_NOTIMP,
  RCODE_REFUSED,
  RCODE_SERVFAIL,
  responseLimit,
  truncatedRelay,
} from './wire.js';
import { ZoneSet } from './zones.js';

export interface DnsServerOptions extends Partial<DnsConfig> {
  /** The zones to answer from; the server makes an empty set when none is given. */
  zones?: ZoneSet;
  /** Where unknown names go. Absent or false: nowhere (SERVFAIL). */
  forwarder?: Forwarder | ForwarderOptions | false;
  log?: Logger;
}

export interface ListenOptions {
  /** Namespace to listen in; undefined = the agent's own. */
  netns?: Netns;
  address: string;
  /** 0 picks a free port (the same for UDP and TCP). */
  port: number;
  /** Network IDs this listener answers for, in search order. */
  view: readonly string[];
}

export interface DnsListener {
  readonly address: string;
  readonly port: number;
  readonly view: readonly string[];
  /** Answers for other networks from now on (a task joined or left a network). */
  setView(view: readonly string[]): void;
  close(): Promise<void>;
}

/** Answers shared by every listener with the same view. */
export class ViewState {
  readonly cache: AnswerCache;
  refs = 0;
  constructor(
    readonly key: string,
    readonly networks: readonly string[],
    maxEntries: number,
  ) {
    this.cache = new AnswerCache(maxEntries);
  }
}

const ADDRESS_IN_USE_RETRIES = 20;

export class DnsServer {
  readonly zones: ZoneSet;
  readonly stats: DnsStats = emptyDnsStats();
  readonly forwarder: Forwarder | undefined;
  readonly config: Readonly<DnsConfig>;
  private readonly log: Logger | undefined;
  private readonly views = new Map<string, ViewState>();
  private readonly viewsByNetwork = new Map<string, Set<ViewState>>();
  private readonly listeners = new Set<Listener>();
  private readonly scratch = new ParsedQuery();
  private readonly stopWatching: () => void;
  private ownsForwarder: boolean;
  private errorsLogged = 0;

  constructor(opts: DnsServerOptions = {}) {
    this.config = Object.freeze({ ...defaultDnsConfig, ...definedOnly(opts) });
    this.zones = opts.zones ?? new ZoneSet();
    this.log = opts.log;
    if (opts.forwarder instanceof Forwarder) {
      this.forwarder = opts.forwarder;
      this.ownsForwarder = false;
    } else {
      this.forwarder = opts.forwarder ? new Forwarder(opts.forwarder) : undefined;
      this.ownsForwarder = this.forwarder !== undefined;
    }
    this.stopWatching = this.zones.onChange((id) => this.invalidate(id));
  }

  async listen(opts: ListenOptions): Promise<DnsListener> {
    const listener = new Listener(this, opts, this.acquireView(opts.view));
    try {
      await listener.open();
    } catch (err) {
      await listener.close();
      throw err;
    }
    this.listeners.add(listener);
    return listener;
  }

  /** Closes every listener and the forwarder (when the server made it). */
  async close(): Promise<void> {
    await Promise.all([...this.listeners].map((l) => l.close()));
    this.stopWatching();
    if (this.ownsForwarder) this.forwarder?.close();
    this.ownsForwarder = false;
  }

  // --- used by Listener ---------------------------------------------------------------------

  /** @internal */
  acquireView(networks: readonly string[]): ViewState {
    const key = networks.join('\u0000');
    let view = this.views.get(key);
    if (view === undefined) {
      view = new ViewState(key, [...networks], this.config.maxCachedAnswersPerView);
      this.views.set(key, view);
      for (const id of new Set(networks)) {
        let set = this.viewsByNetwork.get(id);
        if (set === undefined) this.viewsByNetwork.set(id, (set = new Set()));
        set.add(view);
      }
    }
    view.refs++;
    return view;
  }

  /** @internal */
  releaseView(view: ViewState): void {
    if (--view.refs > 0) return;
    this.views.delete(view.key);
    for (const id of view.networks) {
      const set = this.viewsByNetwork.get(id);
      set?.delete(view);
      if (set?.size === 0) this.viewsByNetwork.delete(id);
    }
  }

  /** @internal */
  forget(listener: Listener): void {
    this.listeners.delete(listener);
  }

  /** @internal One UDP datagram from a client. */
  onUdp(l: Listener, msg: Buffer, port: number, address: string): void {
    const st = this.stats.udp;
    try {
      const q = this.scratch;
      const parsed = parseQuery(msg, msg.length, q);
      if (parsed !== PARSE_OK) {
        const reply = this.unusual(parsed, msg, q, st, 0);
        if (reply !== undefined) l.sendUdp(reply, port, address);
        return;
      }
      st.queries++;
      const reply = this.answerLocally(l.state, msg, q, responseLimit(q, false), 0);
      if (reply !== undefined) {
        st.local++;
        if (isTruncated(reply, 0)) st.truncated++;
        l.sendUdp(reply, port, address);
        return;
      }
      this.forward(l, msg, q.clone(), st, false, (b) => l.sendUdp(b, port, address));
    } catch (err) {
      this.internalError(st, err);
    }
  }

  /** @internal One complete TCP frame (without its length) from a client. */
  onTcpFrame(l: Listener, frame: Buffer, conn: TcpQueryConnection): void {
    const st = this.stats.tcp;
    try {
      const q = this.scratch;
      const parsed = parseQuery(frame, frame.length, q);
      if (parsed !== PARSE_OK) {
        const reply = this.unusual(parsed, frame, q, st, 2);
        if (reply !== undefined) conn.send(reply);
        return;
      }
      st.queries++;
      const reply = this.answerLocally(l.state, frame, q, MAX_MESSAGE_SIZE, 2);
      if (reply !== undefined) {
        st.local++;
        if (isTruncated(reply, 2)) st.truncated++;
        conn.send(reply);
        return;
      }
      const release = conn.hold();
      this.forward(l, frame, q.clone(), st, true, (b) => {
        release();
        conn.send(b);
      }, release);
    } catch (err) {
      this.internalError(st, err);
    }
  }

  // --- answering ----------------------------------------------------------------------------

  /** The reply from cluster records, or undefined when the name is not the view's to answer. */
  private answerLocally(view: ViewState, msg: Buffer, q: ParsedQuery, limit: number, prefix: number): Buffer | undefined {
    const template = view.cache.get(msg, q) ?? this.buildTemplate(view, msg, q);
    return template === undefined ? undefined : serveTemplate(template, msg, q, limit, prefix, this.config.ednsUdpSize);
  }

  private buildTemplate(view: ViewState, msg: Buffer, q: ParsedQuery): Template | undefined {
    const name = questionName(msg, q);
    if (name === undefined) return undefined;
    const answer = lookup(this.zones, view.networks, name, q.qtype, q.qclass);
    if (answer.kind === 'forward') return undefined;
    const question = Buffer.from(msg.subarray(HEADER_SIZE, q.questionEnd));
    for (let i = 0; i < q.nameEnd - HEADER_SIZE; i++) question[i] = lowerByte(question[i]!);
    const template = buildTemplate({ question, answer, ttlSeconds: this.config.ttlSeconds });
    view.cache.set(q, template);
    return template;
  }

  /** Replies to what parsed but is not a plain query; undefined (and counted) for what gets dropped. */
  private unusual(parsed: number, msg: Buffer, q: ParsedQuery, st: TransportStats, prefix: number): Buffer | undefined {
    if (parsed === PARSE_MALFORMED) {
      st.malformed++;
      return undefined;
    }
    st.queries++;
    st.local++;
    if (parsed === PARSE_NOTIMP) return emptyReply(msg, q, RCODE_NOTIMP, this.config.ednsUdpSize, prefix);
    if (parsed === PARSE_BADVERS) return badversReply(msg, q, this.config.ednsUdpSize, prefix);
    return undefined;
  }

  private forward(l: Listener, msg: Buffer, q: ParsedQuery, st: TransportStats, tcp: boolean, reply: (b: Buffer) => void, abandon?: () => void): void {
    st.forwarded++;
    const prefix = tcp ? 2 : 0;
    const fail = (rcode: number): void => {
      if (rcode === RCODE_SERVFAIL) st.servfail++;
      else st.refused++;
      reply(emptyReply(msg, q, rcode, this.config.ednsUdpSize, prefix));
    };
    if (this.forwarder === undefined) return fail(RCODE_SERVFAIL);
    this.forwarder.forward(msg, tcp).then(
      (outcome) => {
        if (l.closed) return abandon?.();
        if (outcome.kind === 'busy') return fail(RCODE_REFUSED);
        if (outcome.kind === 'failed') return fail(RCODE_SERVFAIL);
        if (tcp) return reply(framed(outcome.reply));
        if (outcome.reply.length <= responseLimit(q, false)) return reply(outcome.reply);
        st.truncated++;
        reply(truncatedRelay(outcome.reply, msg, q, this.config.ednsUdpSize));
      },
      (err: unknown) => {
        abandon?.();
        this.internalError(st, err);
      },
    ).catch((err: unknown) => this.internalError(st, err));
  }

  private invalidate(networkId: string): void {
    const views = this.viewsByNetwork.get(networkId);
    if (views === undefined) return;
    for (const v of views) v.cache.clear();
  }

  /** @internal A bug or a socket failure: counted, logged now and then, never thrown at a socket. */
  internalError(st: TransportStats, err: unknown): void {
    st.errors++;
    if (this.errorsLogged++ % 1000 === 0) this.log?.error({ err, count: this.errorsLogged }, 'dns: internal error while handling a query');
  }
}

function framed(msg: Buffer): Buffer {
  const out = Buffer.allocUnsafe(2 + msg.length);
  out.writeUInt16BE(msg.length, 0);
  msg.copy(out, 2);
  return out;
}

/** One address:port, UDP and TCP, answering for one view. */
class Listener implements DnsListener {
  closed = false;
  state: ViewState;
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private readonly connections = new Set<TcpQueryConnection>();
  private boundPort = 0;

  constructor(
    private readonly server: DnsServer,
    private readonly opts: ListenOptions,
    state: ViewState,
  ) {
    this.state = state;
  }

  get address(): string {
    return this.opts.address;
  }

  get port(): number {
    return this.boundPort;
  }

  get view(): readonly string[] {
    return this.state.networks;
  }

  setView(networks: readonly string[]): void {
    if (this.closed) return;
    const next = this.server.acquireView(networks);
    this.server.releaseView(this.state);
    this.state = next;
  }

  async open(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.bindBoth();
        return;
      } catch (err) {
        await this.closeSockets();
        const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
        if (!(inUse && this.opts.port === 0 && attempt < ADDRESS_IN_USE_RETRIES)) throw err;
      }
    }
  }

  sendUdp(reply: Buffer, port: number, address: string): void {
    if (this.closed || this.udp === undefined) return;
    this.udp.send(reply, port, address);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.server.forget(this);
    this.server.releaseView(this.state);
    await this.closeSockets();
  }

  /** UDP first (port 0 picks the port), then TCP on the same port. */
  private async bindBoth(): Promise<void> {
    const udp = dgram.createSocket(this.opts.address.includes(':') ? 'udp6' : 'udp4');
    this.udp = udp;
    udp.on('message', (msg, rinfo) => this.server.onUdp(this, msg, rinfo.port, rinfo.address));
    await bindUdp(udp, this.opts);
    udp.on('error', (err) => this.server.internalError(this.server.stats.udp, err));
    this.boundPort = udp.address().port;

    const tcp = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.tcp = tcp;
    await listenTcp(tcp, this.opts, this.boundPort);
    tcp.on('error', (err) => this.server.internalError(this.server.stats.tcp, err));
  }

  private accept(socket: net.Socket): void {
    const cfg = this.server.config;
    if (this.closed || this.connections.size >= cfg.maxTcpConnectionsPerListener) {
      socket.destroy();
      return;
    }
    const conn = new TcpQueryConnection(
      socket,
      { idleTimeoutMs: cfg.tcpIdleTimeoutMs, maxPending: cfg.maxTcpPendingPerConnection },
      (frame, c) => this.server.onTcpFrame(this, frame, c),
      () => this.connections.delete(conn),
    );
    this.connections.add(conn);
  }

  private async closeSockets(): Promise<void> {
    for (const c of this.connections) c.destroy();
    this.connections.clear();
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    await Promise.all([
      udp === undefined ? undefined : new Promise<void>((res) => { try { udp.close(() => res()); } catch { res(); } }),
      tcp === undefined || !tcp.listening ? undefined : new Promise<void>((res) => tcp.close(() => res())),
    ]);
  }
}

function bindUdp(udp: dgram.Socket, opts: ListenOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    udp.once('error', onError);
    udp.once('listening', () => {
      udp.off('error', onError);
      resolve();
    });
    if (opts.netns === undefined) udp.bind({ port: opts.port, address: opts.address, exclusive: true });
    else udp.bind({ fd: opts.netns.socket('udp', opts.address, opts.port) });
  });
}

function listenTcp(tcp: net.Server, opts: ListenOptions, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    tcp.once('error', onError);
    tcp.once('listening', () => {
      tcp.off('error', onError);
      resolve();
    });
    if (opts.netns === undefined) tcp.listen({ port, host: opts.address, exclusive: true });
    else tcp.listen({ fd: opts.netns.socket('tcp', opts.address, port) });
  });
}

function definedOnly(opts: DnsServerOptions): Partial<DnsConfig> {
  const out: Partial<DnsConfig> = {};
  for (const key of Object.keys(defaultDnsConfig) as (keyof DnsConfig)[]) {
    const v = opts[key];
    if (v !== undefined) out[key] = v;
  }
  return out;
}
