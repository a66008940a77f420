// A small DNS client for probing a resolver: one question (or raw bytes) over UDP or TCP, from the
// agent's namespace or from inside another one, decoded with dns-packet (an encoder and decoder
// independent of the server's own wire code). For tests, benchmarks and readiness checks; the
// server itself never uses it.
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { Netns } from '../kernel/netns.js';

export interface ProbeTarget {
  address: string;
  port: number;
  /** Namespace to send from; default the caller's. */
  netns?: Netns;
}

export interface ProbeOptions {
  tcp?: boolean;
  /** EDNS0 UDP size to advertise; false (default) sends no OPT. */
  edns?: number | false;
  id?: number;
  timeoutMs?: number;
}

export interface ProbeReply {
  packet: dnsPacket.DecodedPacket;
  /** Size of the reply message in bytes (without the TCP length). */
  size: number;
  raw: Buffer;
}

/** Asks one question; rejects on timeout or when the reply does not decode. */
export async function probe(target: ProbeTarget, name: string, type: dnsPacket.RecordType, opts: ProbeOptions = {}): Promise<ProbeReply> {
  const query = dnsPacket.encode({
    type: 'query',
    id: opts.id ?? Math.floor(Math.random() * 65536),
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: 'IN' }],
    additionals: opts.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: opts.edns, flags: 0 } as dnsPacket.Answer] : [],
  });
  const raw = await exchange(target, query, opts);
  if (raw === undefined) throw new Error(`no reply to ${name} ${type} from ${target.address}:${target.port} within ${opts.timeoutMs ?? 2000} ms`);
  return { packet: dnsPacket.decode(raw), size: raw.length, raw };
}

/** Sends bytes as one message; the first reply, or undefined when none came within the timeout. */
export function exchange(target: ProbeTarget, message: Uint8Array, opts: { tcp?: boolean; timeoutMs?: number } = {}): Promise<Buffer | undefined> {
  return opts.tcp ? exchangeTcp(target, message, opts.timeoutMs ?? 2000) : exchangeUdp(target, message, opts.timeoutMs ?? 2000);
}

function anyAddress(address: string): string {
  return address.includes(':') ? '::' : '0.0.0.0';
}

function exchangeUdp(target: ProbeTarget, message: Uint8Array, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(target.address.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => done(undefined), timeoutMs);
    const done = (reply: Buffer | undefined, err?: Error): void => {
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve(reply);
    };
    socket.on('error', (err) => done(undefined, err));
    socket.on('message', (msg) => done(msg));
    const send = (): void => socket.send(message, target.port, target.address);
    if (target.netns) socket.bind({ fd: target.netns.socket('udp', anyAddress(target.address), 0) }, send);
    else send();
  });
}

function exchangeTcp(target: ProbeTarget, message: Uint8Array, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const socket = target.netns ? new net.Socket({ fd: target.netns.socket('tcp', anyAddress(target.address), 0) }) : new net.Socket();
    let pending = Buffer.alloc(0);
    const timer = setTimeout(() => done(undefined), timeoutMs);
    const done = (reply: Buffer | undefined, err?: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(reply);
    };
    socket.on('error', (err) => done(undefined, err));
    socket.on('close', () => done(undefined));
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) done(pending.subarray(2, 2 + pending.readUInt16BE(0)));
    });
    const frame = Buffer.alloc(2 + message.length);
    frame.writeUInt16BE(message.length, 0);
    frame.set(message, 2);
    socket.connect(target.port, target.address, () => socket.write(frame));
  });
}
