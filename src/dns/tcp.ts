// DNS over TCP, one client connection: 2-byte length framing across partial reads, any number of
// queries per connection (answers may go out of order, RFC 7766), an idle timeout, and
// back-pressure: reading stops while the client does not read our replies or while too many of its
// queries are out with the forwarder. Knows nothing of what a query means.
import type net from 'node:net';

export interface TcpConnectionOptions {
  idleTimeoutMs: number;
  maxPending: number;
}

export type FrameHandler = (frame: Buffer, conn: TcpQueryConnection) => void;

export class TcpQueryConnection {
  private buffered: Buffer | undefined;
  private pending = 0;
  private writeBlocked = false;
  private closed = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly opts: TcpConnectionOptions,
    private readonly onFrame: FrameHandler,
    onClose: () => void,
  ) {
    socket.setNoDelay(true);
    socket.setTimeout(opts.idleTimeoutMs);
    socket.on('timeout', () => {
      if (this.pending === 0) socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      this.writeBlocked = false;
      this.updateReading();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.closed = true;
      onClose();
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends a reply that already carries its 2-byte length. */
  send(framed: Buffer): void {
    if (this.closed) return;
    if (!this.socket.write(framed)) {
      this.writeBlocked = true;
      this.updateReading();
    }
  }

  /** A query of this connection went to the forwarder; call done() when its reply was sent. */
  hold(): () => void {
    this.pending++;
    this.updateReading();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.pending--;
      this.updateReading();
      this.processBuffered();
    };
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffered = this.buffered === undefined ? chunk : Buffer.concat([this.buffered, chunk]);
    this.processBuffered();
  }

  /** Hands complete frames to the handler while the connection may take more. */
  private processBuffered(): void {
    let data = this.buffered;
    while (data !== undefined && data.length >= 2 && !this.closed && this.pending < this.opts.maxPending) {
      const n = (data[0]! << 8) | data[1]!;
      if (data.length < 2 + n) break;
      const frame = data.subarray(2, 2 + n);
      data = data.length === 2 + n ? undefined : data.subarray(2 + n);
      this.buffered = data;
      this.onFrame(frame, this);
    }
  }

  private updateReading(): void {
    if (this.closed) return;
    if (this.writeBlocked || this.pending >= this.opts.maxPending) this.socket.pause();
    else this.socket.resume();
  }
}
