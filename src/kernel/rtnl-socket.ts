// One rtnetlink socket living in one network namespace, made safe to use: a large receive buffer,
// a bound on requests in flight and on the receive-buffer room their replies can take (the netlink
// package aborts the process when replies overflow the buffer), dumps run one at a time, a timeout
// on every request, every failure turned into a KernelError naming the operation and the namespace,
// and link names resolved to ifindex here.
import {
  createRtNetlink,
  type RequestOptions,
  type RtNetlinkSendOptions,
  type RtNetlinkSocket,
} from 'netlink';
import { isValidLinkName } from './encoding.js';
import { KernelError } from './errors.js';
import { InFlightLimiter, type InFlightStats, type TaskOptions } from './inflight.js';
import { describeNetns, Netns, type NetnsRef } from './netns.js';
import { describeNetlinkError, netlinkError } from './netlink-errors.js';
import { RequestGuard } from './request-guard.js';

export interface RtnlOptions {
  /** Requests waiting for an answer at once; more are queued. Also bounded by the receive buffer, see REPLY_BYTES. */
  maxInFlight?: number;
  /** SO_RCVBUF to ask for. The kernel caps it at net.core.rmem_max and doubles it. */
  recvBufferBytes?: number;
  /** How long one request may wait for the kernel's answer. */
  timeoutMs?: number;
}

export const RTNL_DEFAULTS: Required<RtnlOptions> = {
  maxInFlight: 64,
  recvBufferBytes: 8 * 1024 * 1024,
  timeoutMs: 10_000,
};

/**
 * Receive-buffer room (skb truesize, rounded up) one reply may take, by kind of reply. Measured on
 * kernel 6.18 via /proc/net/netlink Rmem: an ACK or error for an FDB add is 832 bytes; an RTM_NEWLINK
 * answering a lookup is 3.1 KB (veth) to 5.2 KB (bridge, vxlan). Requests in flight may hold at most
 * half of the buffer the kernel granted, so a small net.core.rmem_max lowers concurrency instead of
 * crashing the process.
 */
export const REPLY_BYTES = { ack: 1024, link: 8192 } as const;

export type ReplyKind = keyof typeof REPLY_BYTES;

/** A link by name, or by ifindex when the caller already has it. */
export type LinkRef = string | number;

/** What the netlink package's request methods accept as their last argument. */
export type RequestOpts = RtNetlinkSendOptions & RequestOptions;

export interface RtnlSocketStats extends InFlightStats {
  /** The receive buffer the kernel actually gave the socket. */
  recvBufferBytes: number;
  /** How much of it replies to requests in flight may take (cost and peakCost are in the same bytes). */
  replyBudgetBytes: number;
}

export class RtnlSocket {
  private readonly limiter: InFlightLimiter;
  /** Requests sent and not yet answered: their timeouts, and EBADF for each on close(). */
  private readonly requests: RequestGuard;
  private lastSocketError: Error | undefined;

  private constructor(
    private readonly sock: RtNetlinkSocket,
    /** The namespace as error messages name it, e.g. 'node1' or 'pid 4242'. */
    readonly netns: string,
    options: Required<RtnlOptions>,
    private readonly recvBufferBytes: number,
  ) {
    this.limiter = new InFlightLimiter({ maxTasks: options.maxInFlight, capacity: Math.floor(recvBufferBytes / 2) });
    this.requests = new RequestGuard('the rtnetlink socket', options.timeoutMs);
    // Without a listener an 'error' event would be thrown from inside a libuv callback.
    sock.socket.on('error', (err) => { this.lastSocketError = err; });
  }

  /** Opens an rtnetlink socket inside the namespace ref names. The socket keeps that namespace alive until close(). */
  static open(ref: NetnsRef, options: RtnlOptions = {}): RtnlSocket {
    const o = { ...RTNL_DEFAULTS, ...options };
    const label = netnsLabel(ref);
    const ns = Netns.open(ref);
    let sock: RtNetlinkSocket;
    try {
      // The package creates its socket synchronously in the constructor, so it is born in ns.
      sock = ns.run(() => createRtNetlink());
    } catch (err) {
      throw netlinkError(err, `open rtnetlink socket in ${label}`);
    } finally {
      ns.close();
    }
    let granted: number;
    try {
      sock.socket.setRecvBufferSize(o.recvBufferBytes);
      granted = sock.socket.getRecvBufferSize();
    } catch (err) {
      sock.socket.close();
      throw netlinkError(err, `set SO_RCVBUF ${o.recvBufferBytes} on rtnetlink socket in ${label}`);
    }
    return new RtnlSocket(sock, label, o, granted);
  }

  /**
   * Runs one public operation (which may make several requests). Errors its requests raise already
   * name op; anything else, such as an EINVAL from parsing a MAC or CIDR, gets op and the namespace added.
   */
  async operation<T>(op: string, body: () => Promise<T>): Promise<T> {
    const where = this.where(op);
    try {
      return await body();
    } catch (err) {
      if (err instanceof KernelError && err.op === where) throw err;
      throw new KernelError(err instanceof KernelError ? err.code : describeNetlinkError(err).code, where, err instanceof Error ? err.message : String(err));
    }
  }

  /**
   * One request (not a dump). op says what it does without the namespace, e.g. 'set link br0 up';
   * reply says how big its answer is: an ACK, or a whole link for a lookup.
   */
  request<T>(op: string, fn: (sock: RtNetlinkSocket, opts: RequestOpts) => Promise<T>, reply: ReplyKind = 'ack'): Promise<T> {
    return this.schedule({ kind: 'shared', cost: REPLY_BYTES[reply] }, op, fn);
  }

  /** A dump request: runs with nothing else in flight on this socket (the kernel paces a dump's parts itself). */
  dump<T>(op: string, fn: (sock: RtNetlinkSocket, opts: RequestOpts) => Promise<T>): Promise<T> {
    return this.schedule({ kind: 'exclusive', cost: 0 }, op, fn);
  }

  /** The ifindex of a link; ENODEV naming the link when there is none by that name. op is what it is needed for. */
  async ifindex(link: LinkRef, op: string): Promise<number> {
    if (typeof link === 'number') return link;
    const found = await this.findIndex(link, op);
    if (found === undefined) throw new KernelError('ENODEV', this.where(op), `no link named '${link}' in ${this.netns}`);
    return found;
  }

  /** The ifindex of the link with this name, or undefined. */
  async findIndex(name: string, op = `look up link ${name}`): Promise<number | undefined> {
    if (!isValidLinkName(name)) return undefined;
    try {
      const [msg] = await this.request(op, (s, o) => s.getLink({}, { ifname: name }, o), 'link');
      return msg?.data.index;
    } catch (err) {
      if (err instanceof KernelError && err.code === 'ENODEV') return undefined;
      throw err;
    }
  }

  /** ifindex -> name for every link in the namespace (one dump). */
  async linkNames(): Promise<Map<number, string>> {
    const msgs = await this.dump('list links', (s, o) => s.getLinks({}, {}, o));
    const names = new Map<number, string>();
    for (const m of msgs) if (m.data.index !== undefined && m.attrs.ifname !== undefined) names.set(m.data.index, m.attrs.ifname);
    return names;
  }

  /** 'op in <namespace>', the text every KernelError from this socket carries. */
  where(op: string): string {
    return `${op} in ${this.netns}`;
  }

  get stats(): RtnlSocketStats {
    return { ...this.limiter.stats, recvBufferBytes: this.recvBufferBytes, replyBudgetBytes: this.limiter.capacity };
  }

  /** The last error the socket itself reported (a failed receive), if any. */
  get socketError(): Error | undefined {
    return this.lastSocketError;
  }

  get isClosed(): boolean {
    return this.requests.isClosed;
  }

  /** Closes the socket. Requests still waiting fail with EBADF. */
  close(): void {
    if (this.requests.close()) this.sock.socket.close();
  }

  private async schedule<T>(task: TaskOptions, op: string, fn: (sock: RtNetlinkSocket, opts: RequestOpts) => Promise<T>): Promise<T> {
    const where = this.where(op);
    try {
      return await this.limiter.run(() => this.requests.run(where, () => fn(this.sock, {})), task);
    } catch (err) {
      throw netlinkError(err, where);
    }
  }


}

/** How errors name a namespace: its name, path or pid; 'own netns' for the caller's own. */
export function netnsLabel(ref: NetnsRef): string {
  return ref === 'self' ? 'own netns' : describeNetns(ref);
}
