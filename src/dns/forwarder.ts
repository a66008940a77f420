// The forwarder: sends a query the cluster records do not answer to the upstream resolvers, one
// after the other (at most 3), and returns the first usable reply with the client's query ID.
// UDP first (a socket of its own per query, connected, with a fresh random ID), over TCP when the
// UDP reply is truncated or the client asked over TCP. SERVFAIL, REFUSED, a timeout or an error from
// one upstream -> the next; none left, or the budget spent -> 'failed' (the server answers SERVFAIL).
// At most maxInFlight queries at once -> 'busy' (the server answers REFUSED). Sockets are made in the
// agent's namespace, or in `netns` when given.
import dgram from 'node:dgram';
import { randomFillSync } from 'node:crypto';
import net from 'node:net';
import type { Netns } from '../kernel/netns.js';
import { defaultForwarderConfig, type ForwarderConfig } from './config.js';
import { parseUpstream, upstreamFamily, upstreamsFromResolvConf, type Upstream } from './upstreams.js';
import { FLAG_QR, FLAG_TC, HEADER_SIZE, RCODE_REFUSED, RCODE_SERVFAIL, sameQuestion } from './wire.js';

/** What is left of the budget when the last attempt's timer fires may be a millisecond or two (a timer
 * fires up to a millisecond early, measured by Date.now): so little is spent, not one more upstream. */
const BUDGET_SLACK_MS = 10;

export interface ForwarderOptions extends Partial<ForwarderConfig> {
  /** Upstreams to use, in order. When absent, read from resolvConf. */
  upstreams?: readonly (string | Upstream)[];
  /** A resolv.conf to read upstreams from (nameserver lines). Re-read by reload(). */
  resolvConf?: string;
  /** Where systemd-resolved's real upstreams are; see upstreamsFromResolvConf. */
  systemdResolvConf?: string;
  /** Namespace to make upstream sockets in. Default: the agent's own. */
  netns?: Netns;
}

export type ForwardOutcome = { kind: 'answer'; reply: Buffer } | { kind: 'failed' } | { kind: 'busy' };

export interface ForwarderStats {
  inFlight: number;
  peakInFlight: number;
  /** Attempts that got no reply in time. */
  timeouts: number;
  /** Attempts that failed on the socket (refused, unreachable, reset). */
  errors: number;
  /** Replies SERVFAIL or REFUSED, after which the next upstream was asked. */
  rejected: number;
  /** Truncated UDP replies retried over TCP. */
  tcpRetries: number;
}

class AttemptError extends Error {
  constructor(readonly reason: 'timeout' | 'error' | 'closed', message: string) {
    super(message);
  }
}

export class Forwarder {
  readonly config: Readonly<ForwarderConfig>;
  readonly stats: ForwarderStats = { inFlight: 0, peakInFlight: 0, timeouts: 0, errors: 0, rejected: 0, tcpRetries: 0 };
  private list: Upstream[] = [];
  private readonly closing = new AbortController();
  private readonly randomIds = Buffer.alloc(2048);
  private randomAt = this.randomIds.length;

  constructor(private readonly opts: ForwarderOptions = {}) {
    this.config = Object.freeze({ ...defaultForwarderConfig, ...definedOnly(opts) });
    this.reload();
  }

  get upstreams(): readonly Upstream[] {
    return this.list;
  }

  setUpstreams(upstreams: readonly (string | Upstream)[]): void {
    this.list = upstreams.slice(0, this.config.maxUpstreams).map((u) => parseUpstream(u));
  }

  /** Takes the upstreams again from the options (re-reading resolvConf). */
  reload(): void {
    if (this.opts.upstreams !== undefined) this.setUpstreams(this.opts.upstreams);
    else if (this.opts.resolvConf !== undefined) {
      this.list = upstreamsFromResolvConf(this.opts.resolvConf, { max: this.config.maxUpstreams, systemdResolvConf: this.opts.systemdResolvConf });
    } else this.list = [];
  }

  /** query: the client's message as received. tcp: the client asked over TCP. */
  async forward(query: Uint8Array, tcp: boolean): Promise<ForwardOutcome> {
    if (this.stats.inFlight >= this.config.maxInFlight) return { kind: 'busy' };
    this.stats.inFlight++;
    if (this.stats.inFlight > this.stats.peakInFlight) this.stats.peakInFlight = this.stats.inFlight;
    try {
      const reply = await this.tryUpstreams(query, tcp);
      return reply === undefined ? { kind: 'failed' } : { kind: 'answer', reply };
    } finally {
      this.stats.inFlight--;
    }
  }

  /** Ends every exchange in flight (they fail) and refuses new ones. */
  close(): void {
    this.closing.abort();
  }

  private async tryUpstreams(query: Uint8Array, tcp: boolean): Promise<Buffer | undefined> {
    const deadline = Date.now() + this.config.forwardBudgetMs;
    const clientId = (query[0]! << 8) | query[1]!;
    const ours = Buffer.from(query);
    for (const upstream of this.list) {
      const remaining = deadline - Date.now();
      if (remaining <= BUDGET_SLACK_MS || this.closing.signal.aborted) break;
      ours.writeUInt16BE(this.nextId(), 0);
      const reply = await this.ask(upstream, ours, tcp, Math.min(remaining, this.config.upstreamTimeoutMs), deadline);
      if (reply === undefined) continue;
      reply.writeUInt16BE(clientId, 0);
      return reply;
    }
    return undefined;
  }

  /** One upstream: its usable reply, or undefined to go on to the next. */
  private async ask(upstream: Upstream, query: Buffer, tcp: boolean, timeoutMs: number, deadline: number): Promise<Buffer | undefined> {
    try {
      let reply = tcp ? await this.exchangeTcp(upstream, query, timeoutMs) : await this.exchangeUdp(upstream, query, timeoutMs);
      if (!tcp && (reply[2]! & (FLAG_TC >> 8)) !== 0) {
        const remaining = deadline - Date.now();
        if (remaining > 0) {
          this.stats.tcpRetries++;
          // A failed retry still leaves the truncated reply, which tells the client to ask us over TCP.
          reply = await this.exchangeTcp(upstream, query, Math.min(remaining, this.config.upstreamTimeoutMs)).catch(() => reply);
        }
      }
      const rcode = reply[3]! & 0x0f;
      if (rcode === RCODE_SERVFAIL || rcode === RCODE_REFUSED) {
        this.stats.rejected++;
        return undefined;
      }
      return reply;
    } catch (err) {
      if (err instanceof AttemptError && err.reason === 'timeout') this.stats.timeouts++;
      else this.stats.errors++;
      return undefined;
    }
  }

  private nextId(): number {
    if (this.randomAt + 2 > this.randomIds.length) {
      randomFillSync(this.randomIds);
      this.randomAt = 0;
    }
    const id = this.randomIds.readUInt16BE(this.randomAt);
    this.randomAt += 2;
    return id;
  }

  private exchangeUdp(upstream: Upstream, query: Buffer, timeoutMs: number): Promise<Buffer> {
    const family = upstreamFamily(upstream);
    const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    return this.exchange(timeoutMs, (done, fail) => {
      socket.on('error', (err) => fail(new AttemptError('error', err.message)));
      socket.on('message', (msg) => {
        if (isReplyTo(msg, query)) done(msg);
      });
      socket.on('connect', () => socket.send(query));
      if (this.opts.netns !== undefined) socket.bind({ fd: this.opts.netns.socket('udp', family === 6 ? '::' : '0.0.0.0', 0) });
      socket.connect(upstream.port, upstream.address);
      return () => socket.close();
    });
  }

  private exchangeTcp(upstream: Upstream, query: Buffer, timeoutMs: number): Promise<Buffer> {
    const family = upstreamFamily(upstream);
    const socket = this.opts.netns !== undefined ? new net.Socket({ fd: this.opts.netns.socket('tcp', family === 6 ? '::' : '0.0.0.0', 0) }) : new net.Socket();
    return this.exchange(timeoutMs, (done, fail) => {
      let pending: Buffer = Buffer.alloc(0);
      socket.on('error', (err) => fail(new AttemptError('error', err.message)));
      socket.on('close', () => fail(new AttemptError('error', 'connection closed before a reply')));
      socket.on('data', (chunk: Buffer) => {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        while (pending.length >= 2) {
          const n = pending.readUInt16BE(0);
          if (pending.length < 2 + n) break;
          const msg = pending.subarray(2, 2 + n);
          pending = pending.subarray(2 + n);
          if (isReplyTo(msg, query)) return done(Buffer.from(msg));
        }
      });
      const frame = Buffer.allocUnsafe(2 + query.length);
      frame.writeUInt16BE(query.length, 0);
      query.copy(frame, 2);
      socket.connect(upstream.port, upstream.address, () => socket.write(frame));
      return () => socket.destroy();
    });
  }

  /** Runs one exchange with a timeout and the forwarder's close signal; cleanup always runs once. */
  private exchange(timeoutMs: number, start: (done: (b: Buffer) => void, fail: (e: Error) => void) => () => void): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      let cleanup: (() => void) | undefined;
      let settled = false;
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.closing.signal.removeEventListener('abort', onAbort);
        try {
          cleanup?.();
        } catch {
          // already closed
        }
        fn();
      };
      const onAbort = (): void => finish(() => reject(new AttemptError('closed', 'forwarder closed')));
      const timer = setTimeout(() => finish(() => reject(new AttemptError('timeout', `no reply within ${timeoutMs} ms`))), timeoutMs);
      this.closing.signal.addEventListener('abort', onAbort);
      try {
        cleanup = start(
          (b) => finish(() => resolve(b)),
          (e) => finish(() => reject(e)),
        );
        if (settled) cleanup();
      } catch (err) {
        finish(() => reject(new AttemptError('error', (err as Error).message)));
      }
    });
  }
}

/** A reply to query: QR set, same ID, same question. Anything else on the socket is ignored. */
function isReplyTo(msg: Uint8Array, query: Uint8Array): boolean {
  return msg.length >= HEADER_SIZE && (msg[2]! & (FLAG_QR >> 8)) !== 0 && msg[0] === query[0] && msg[1] === query[1] && sameQuestion(msg, query);
}

function definedOnly(opts: ForwarderOptions): Partial<ForwarderConfig> {
  const out: Partial<ForwarderConfig> = {};
  for (const key of Object.keys(defaultForwarderConfig) as (keyof ForwarderConfig)[]) {
    const v = opts[key];
    if (v !== undefined) out[key] = v;
  }
  return out;
}
