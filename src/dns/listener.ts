// One listener: UDP and TCP sockets on one address and port, in the agent's namespace or inside
// another one (sockets made there by the native addon), answering for one view. It owns its
// sockets and TCP connections; what a query means is the host's (DnsServer's) business.
import dgram from 'node:dgram';
import net from 'node:net';
import { Netns } from '../kernel/netns.js';
import type { UdpFastSocket } from '../kernel/native.js';
import type { DnsConfig } from './config.js';
import { openFastUdp } from './fast-udp.js';
import { TcpQueryConnection } from './tcp.js';
import type { ViewRegistry, ViewState } from './views.js';
import { whenListening } from '../util/listen.js';

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

/** What a listener needs from the server that owns it. */
export interface ListenerHost {
  readonly config: Readonly<DnsConfig>;
  /** UDP through the native batched path (fast-udp.ts), rather than dgram. */
  readonly fastUdp: boolean;
  readonly views: ViewRegistry;
  onUdp(l: Listener, msg: Buffer, port: number, address: string): void;
  onTcpFrame(l: Listener, frame: Buffer, conn: TcpQueryConnection): void;
  onSocketError(transport: 'udp' | 'tcp', err: unknown): void;
  onClosed(l: Listener): void;
}

const ADDRESS_IN_USE_RETRIES = 20;

/** One address:port, UDP and TCP, answering for one view. */
export class Listener implements DnsListener {
  closed = false;
  state: ViewState;
  private udp: dgram.Socket | undefined;
  private fast: UdpFastSocket | undefined;
  /** What this listener's native path had answered when the server last counted it. */
  counted = { hits: 0, truncated: 0 };
  private tcp: net.Server | undefined;
  private readonly connections = new Set<TcpQueryConnection>();
  private boundPort = 0;

  constructor(
    private readonly host: ListenerHost,
    private readonly opts: ListenOptions,
  ) {
    this.state = host.views.acquire(opts.view);
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
    const next = this.host.views.acquire(networks);
    this.host.views.release(this.state);
    this.state = next;
    this.fast?.setView(next.id);
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
    if (this.closed) return;
    if (this.fast) this.fast.send(reply, port, address);
    else this.udp?.send(reply, port, address);
  }

  /** What the native path answered by itself so far (the server folds it into its stats). */
  nativeStats(): { hits: number; truncated: number } | undefined {
    return this.fast?.stats();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.host.onClosed(this);
    this.host.views.release(this.state);
    await this.closeSockets();
  }

  /** UDP first (port 0 picks the port), then TCP on the same port. */
  private async bindBoth(): Promise<void> {
    if (this.host.fastUdp && !this.opts.address.includes(':')) {
      const ns = this.opts.netns ?? Netns.open('self');
      try {
        const fd = ns.socket('udp', this.opts.address, this.opts.port);
        this.fast = openFastUdp(fd, this.state.id, this.host.config.ednsUdpSize, (msg, port, address) => this.host.onUdp(this, msg, port, address));
      } finally {
        if (ns !== this.opts.netns) ns.close();
      }
      this.boundPort = this.fast.port() ?? this.opts.port;
    } else {
      await this.bindDgram();
    }
    const tcp = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.tcp = tcp;
    await listenTcp(tcp, this.opts, this.boundPort);
    tcp.on('error', (err) => this.host.onSocketError('tcp', err));
  }

  private async bindDgram(): Promise<void> {
    const udp = dgram.createSocket(this.opts.address.includes(':') ? 'udp6' : 'udp4');
    this.udp = udp;
    udp.on('message', (msg, rinfo) => this.host.onUdp(this, msg, rinfo.port, rinfo.address));
    await bindUdp(udp, this.opts);
    udp.on('error', (err) => this.host.onSocketError('udp', err));
    this.boundPort = udp.address().port;
  }

  private accept(socket: net.Socket): void {
    const cfg = this.host.config;
    if (this.closed || this.connections.size >= cfg.maxTcpConnectionsPerListener) {
      socket.destroy();
      return;
    }
    const conn = new TcpQueryConnection(
      socket,
      { idleTimeoutMs: cfg.tcpIdleTimeoutMs, maxPending: cfg.maxTcpPendingPerConnection },
      (frame, c) => this.host.onTcpFrame(this, frame, c),
      () => this.connections.delete(conn),
    );
    this.connections.add(conn);
  }

  private async closeSockets(): Promise<void> {
    for (const c of this.connections) c.destroy();
    this.connections.clear();
    const udp = this.udp;
    const tcp = this.tcp;
    this.fast?.close();
    this.fast = undefined;
    this.udp = undefined;
    this.tcp = undefined;
    await Promise.all([
      udp === undefined ? undefined : new Promise<void>((res) => { try { udp.close(() => res()); } catch { res(); } }),
      tcp === undefined || !tcp.listening ? undefined : new Promise<void>((res) => tcp.close(() => res())),
    ]);
  }
}

function bindUdp(udp: dgram.Socket, opts: ListenOptions): Promise<void> {
  return whenListening(udp, () => {
    if (opts.netns === undefined) udp.bind({ port: opts.port, address: opts.address, exclusive: true });
    else udp.bind({ fd: opts.netns.socket('udp', opts.address, opts.port) });
  });
}

function listenTcp(tcp: net.Server, opts: ListenOptions, port: number): Promise<void> {
  return whenListening(tcp, () => {
    if (opts.netns === undefined) tcp.listen({ port, host: opts.address, exclusive: true });
    else tcp.listen({ fd: opts.netns.socket('tcp', opts.address, port) });
  });
}
