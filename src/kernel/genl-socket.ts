// One generic netlink socket (NETLINK_GENERIC) in one network namespace, carrying payloads that
// ipvs-wire.ts encoded: the netlink package adds the nlmsghdr (type, flags, seq, port) and matches
// the answer to the request; we ask it not to interpret errors (checkError: false) so the errno
// comes back as a number, not as a libuv name. Made safe the way rtnl-socket.ts is (decision 0002):
// a bound on requests in flight, dumps alone on the socket, our own timeout per request, EBADF for
// everything still waiting on close(). GenlTransport is the seam the in-memory fake plugs into.
import { createNetlink, Protocol, type NetlinkSocket } from 'netlink';
import { InFlightLimiter, type TaskOptions } from './inflight.js';
import { Netns, type NetnsRef } from './netns.js';
import { netlinkError } from './netlink-errors.js';
import { netnsLabel } from './rtnl-socket.js';
import { NLM_F_DUMP, type NlMsg } from './ipvs-wire.js';
import { RequestGuard } from './request-guard.js';

/** Where generic netlink requests go: the kernel through a socket, or the fake (ipvs-fake.ts). */
export interface GenlTransport {
  /** The namespace as error messages name it. */
  readonly netns: string;
  /**
   * Sends one request: message type (a genl family id), payload (genl header + attributes), dump or
   * not (NLM_F_DUMP; NLM_F_REQUEST | NLM_F_ACK are always set). Resolves with the messages that
   * answered it, NLMSG_ERROR included (see interpretReply); rejects only when nothing could be
   * exchanged (socket closed, timeout, send failed), with a KernelError naming op.
   */
  request(type: number, payload: Buffer, opts: { dump: boolean; op: string }): Promise<NlMsg[]>;
  close(): void;
}

export interface GenlSocketOptions {
  /** Requests waiting for an answer at once; more are queued. IPVS answers are small (an ACK, one service). */
  maxInFlight?: number;
  /** SO_RCVBUF to ask for; the kernel caps it at net.core.rmem_max and doubles it. Dumps are paced by the kernel, so 1 MiB is plenty. */
  recvBufferBytes?: number;
  /** How long one request may wait for its answer. */
  timeoutMs?: number;
}

export const GENL_DEFAULTS: Required<GenlSocketOptions> = {
  maxInFlight: 64,
  recvBufferBytes: 1024 * 1024,
  timeoutMs: 10_000,
};

/** Receive-buffer room one answer may take: an ACK or a single service is well under 1 KiB of payload, 1 KiB+ of skb. */
const REPLY_COST = 2048;

export class GenlSocket implements GenlTransport {
  private readonly limiter: InFlightLimiter;
  private readonly requests: RequestGuard;

  private constructor(
    private readonly sock: NetlinkSocket,
    readonly netns: string,
    timeoutMs: number,
    maxInFlight: number,
    granted: number,
  ) {
    this.requests = new RequestGuard('the generic netlink socket', timeoutMs);
    this.limiter = new InFlightLimiter({ maxTasks: maxInFlight, capacity: Math.max(REPLY_COST, Math.floor(granted / 2)) });
    // Without a listener an 'error' event would be thrown from inside a libuv callback.
    sock.on('error', () => {});
  }

  /** A NETLINK_GENERIC socket born inside the namespace ref names. */
  static open(ref: NetnsRef, options: GenlSocketOptions = {}): GenlSocket {
    const o = { ...GENL_DEFAULTS, ...options };
    const label = netnsLabel(ref);
    const ns = Netns.open(ref);
    let sock: NetlinkSocket;
    try {
      sock = ns.run(() => createNetlink(Protocol.GENERIC));
    } catch (err) {
      throw netlinkError(err, `open generic netlink socket in ${label}`);
    } finally {
      ns.close();
    }
    let granted: number;
    try {
      sock.setRecvBufferSize(o.recvBufferBytes);
      granted = sock.getRecvBufferSize();
    } catch (err) {
      sock.close();
      throw netlinkError(err, `set SO_RCVBUF ${o.recvBufferBytes} on generic netlink socket in ${label}`);
    }
    return new GenlSocket(sock, label, o.timeoutMs, o.maxInFlight, granted);
  }

  request(type: number, payload: Buffer, opts: { dump: boolean; op: string }): Promise<NlMsg[]> {
    const where = `${opts.op} in ${this.netns}`;
    const task: TaskOptions = opts.dump ? { kind: 'exclusive', cost: 0 } : { kind: 'shared', cost: REPLY_COST };
    const send = async (): Promise<NlMsg[]> => {
      const [msgs] = await this.sock.request(type, payload, { flags: opts.dump ? NLM_F_DUMP : 0, checkError: false });
      return msgs.map((m) => ({ type: m.type, flags: m.flags, seq: m.seq, port: m.port, payload: Buffer.from(m.data) }));
    };
    return this.limiter.run(() => this.requests.run(where, send), task).catch((err: unknown) => {
      throw netlinkError(err, where);
    });
  }

  get isClosed(): boolean {
    return this.requests.isClosed;
  }

  close(): void {
    if (this.requests.close()) this.sock.close();
  }


}
