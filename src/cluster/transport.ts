// The seam between a memberlist node and the network: datagrams ("packets") and connections
// ("streams") on one address and port, as memberlist's Transport interface draws it. NetTransport is
// the real one (a UDP socket and a TCP listener on the same port; UDP sent from the bound socket,
// TCP dialled from an ephemeral port); transport-sim.ts holds an in-memory one for benchmarks and
// tests. Memberlist knows only this interface.
import dgram from 'node:dgram';
import net from 'node:net';

/** Where a packet came from (the UDP source; replies prefer the ping's SourceAddr/SourcePort). */
export interface PacketSource {
  address: string;
  port: number;
}

/**
 * One connection, either end. The subset of `net.Socket` that memberlist uses, so a real socket is
 * one. Events: 'connect' (dialled end, once connected), 'data', 'end' (the peer finished writing),
 * 'error', 'close'.
 */
export interface Stream {
  readonly remoteAddress?: string | undefined;
  write(data: Uint8Array): unknown;
  /** Finishes our side, after writing data if given. */
  end(): unknown;
  end(data: Uint8Array): unknown;
  destroy(): unknown;
  /** Calls onTimeout after ms without traffic in either direction. */
  setTimeout(ms: number, onTimeout: () => void): unknown;
  on(event: 'connect' | 'end' | 'close', listener: () => void): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

export interface TransportHandlers {
  packet(buf: Buffer, from: PacketSource): void;
  /** An accepted connection; the handler owns it. */
  stream(conn: Stream): void;
  /** A socket error after listening started (the node keeps running). */
  error(err: Error): void;
}

export interface Transport {
  /** Binds the packet and stream listeners on addr:port; rejects if either cannot be bound. */
  listen(addr: string, port: number, handlers: TransportHandlers): Promise<void>;
  /** Sends one datagram from the bound address. Best effort: losses are silent. */
  sendPacket(buf: Uint8Array, addr: string, port: number): void;
  /** Opens a connection; the returned stream emits 'connect' or 'error'. */
  dial(addr: string, port: number): Stream;
  /** Stops listening. Resolves once both listeners are closed. */
  close(): Promise<void>;
}

/** UDP socket receive buffer asked for (memberlist's udpRecvBufSize): bursts of gossip are not dropped by the kernel. */
const UDP_RECV_BUFFER_BYTES = 2 * 1024 * 1024;

/** The real network: node:dgram and node:net on the node's own address. */
export class NetTransport implements Transport {
  private readonly udp = dgram.createSocket({ type: 'udp4' });
  private readonly tcp = net.createServer();

  async listen(addr: string, port: number, handlers: TransportHandlers): Promise<void> {
    this.udp.on('message', (buf, rinfo) => handlers.packet(buf, rinfo));
    this.udp.on('error', (err) => handlers.error(err));
    this.tcp.on('connection', (sock) => handlers.stream(sock));
    await new Promise<void>((resolve, reject) => {
      this.udp.once('error', reject);
      this.udp.bind(port, addr, () => { this.udp.off('error', reject); resolve(); });
    });
    this.udp.setRecvBufferSize(UDP_RECV_BUFFER_BYTES);
    await new Promise<void>((resolve, reject) => {
      this.tcp.once('error', reject);
      this.tcp.listen(port, addr, () => { this.tcp.off('error', reject); resolve(); });
    });
  }

  sendPacket(buf: Uint8Array, addr: string, port: number): void {
    this.udp.send(buf, port, addr);
  }

  dial(addr: string, port: number): Stream {
    return net.connect(port, addr);
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.tcp.close(() => r()));
    await new Promise<void>((r) => this.udp.close(() => r()));
  }
}
