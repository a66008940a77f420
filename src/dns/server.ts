// The DNS server: listeners (UDP + TCP on one address and port, in any namespace), each answering
// for a view (an ordered list of network IDs), all sharing one ZoneSet, one answer cache per
// distinct view, one forwarder and one event loop. A query goes: scan (wire.ts) -> the view's cache
// of pre-encoded replies (cache.ts, template.ts) -> on a miss, lookup (lookup.ts) and encode once ->
// or, for a name the view does not know, the forwarder. Nothing thrown escapes a socket handler.
import type { Logger } from 'pino';
import { defaultDnsConfig, type DnsConfig } from './config.js';
import { Forwarder, type ForwarderOptions } from './forwarder.js';
import { lookup } from './lookup.js';
import { emptyDnsStats, type DnsStats, type TransportStats } from './stats.js';
import type { TcpQueryConnection } from './tcp.js';
import { Listener, type DnsListener, type ListenerHost, type ListenOptions } from './listener.js';
import { ViewRegistry, type ViewState } from './views.js';
import { fastUdpAvailable } from './fast-udp.js';
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

export type { DnsListener, ListenOptions };

export class DnsServer {
  readonly zones: ZoneSet;
  private readonly counts: DnsStats = emptyDnsStats();
  readonly forwarder: Forwarder | undefined;
  readonly config: Readonly<DnsConfig>;
  private readonly log: Logger | undefined;
  private readonly views: ViewRegistry;
  private readonly listeners = new Set<Listener>();
  private readonly host: ListenerHost;
  private readonly scratch = new ParsedQuery();
  private readonly stopWatching: () => void;
  private ownsForwarder: boolean;
  private closed = false;
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
    const fastUdp = this.config.udpFastPath && fastUdpAvailable();
    this.views = new ViewRegistry(this.config.maxCachedAnswersPerView, fastUdp);
    this.stopWatching = this.zones.onChange((id) => this.views.invalidate(id));
    this.host = {
      config: this.config,
      fastUdp,
      views: this.views,
      onUdp: (l, msg, port, address) => this.onUdp(l, msg, port, address),
      onTcpFrame: (l, frame, conn) => this.onTcpFrame(l, frame, conn),
      onSocketError: (transport, err) => this.internalError(this.counts[transport], err),
      onClosed: (l) => {
        this.countNative(l);
        this.listeners.delete(l);
      },
    };
  }

  /** The counters, with what the native UDP path answered by itself folded in. */
  get stats(): DnsStats {
    for (const l of this.listeners) this.countNative(l);
    return this.counts;
  }

  /** Adds a listener's native answers since last counted: queries answered locally. */
  private countNative(l: Listener): void {
    const n = l.nativeStats();
    if (!n) return;
    const hits = n.hits - l.counted.hits;
    const truncated = n.truncated - l.counted.truncated;
    l.counted = { hits: n.hits, truncated: n.truncated };
    this.counts.udp.queries += hits;
    this.counts.udp.local += hits;
    this.counts.udp.truncated += truncated;
  }

  async listen(opts: ListenOptions): Promise<DnsListener> {
    if (this.closed) throw new Error('dns: listen() on a closed server');
    const listener = new Listener(this.host, opts);
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
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.listeners].map((l) => l.close()));
    this.stopWatching();
    if (this.ownsForwarder) this.forwarder?.close();
    this.ownsForwarder = false;
  }

  // --- queries -----------------------------------------------------------------------------

  /** One UDP datagram from a client. */
  private onUdp(l: Listener, msg: Buffer, port: number, address: string): void {
    const st = this.counts.udp;
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

  /** One complete TCP frame (without its length) from a client. */
  private onTcpFrame(l: Listener, frame: Buffer, conn: TcpQueryConnection): void {
    const st = this.counts.tcp;
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

  /** A bug or a socket failure: counted, logged now and then, never thrown at a socket. */
  private internalError(st: TransportStats, err: unknown): void {
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

function definedOnly(opts: DnsServerOptions): Partial<DnsConfig> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(defaultDnsConfig) as (keyof DnsConfig)[]) {
    const v = opts[key];
    if (v !== undefined) out[key] = v;
  }
  return out as Partial<DnsConfig>;
}
