// Whole packets and streams, both ways. UDP in: label -> decrypt -> CRC -> compound/compress
// unwrapping -> messages. UDP out: messages -> compound -> compression if smaller -> CRC -> encrypt
// -> label. TCP streams carry one exchange (push-pull, ping, ack, user message, error), optionally
// compressed, encrypted and labelled.
import { WireError } from './errors.js';
import { decodeCompound, makeCompound } from './compound.js';
import { compressMessage, decompressMessage } from './compress.js';
import { unwrapCrc, wrapCrc, HAS_CRC_MSG } from './crc.js';
import {
  decodeBody, decodeErrResp, decodeMessage, decodePushNodeState, decodePushPullHeader, decodeUserMsgHeader,
  encodeAck, encodeErrResp, encodePing, encodePushNodeState, encodePushPullHeader, encodeUserMsgHeader, MsgType,
  type Ack, type Message, type Ping, type PushNodeState, type PushPullHeader,
} from './messages.js';
import { decodeAt } from './msgpack.js';
import { decryptPacket, decryptStream, encryptPacket, encryptStream, type Keyring } from './security.js';

export interface WireOptions {
  keyring?: Keyring;
  /** Reject plaintext when a keyring is set (memberlist's GossipVerifyIncoming). */
  verifyIncoming?: boolean;
  /** Encrypt what we send when a keyring is set (GossipVerifyOutgoing). */
  verifyOutgoing?: boolean;
  /** memberlist >= 0.3 label; empty means none (Serf 0.9 / memberlist 0.2 know no labels). */
  label?: string;
  /**
   * Streams only: whether this stream carries the label header. memberlist writes it once, at the
   * start of a connection it dials; what the accepting side writes back (the push/pull reply, the
   * ack, an errResp) has none, though the label is still part of the AAD. So: true (the default)
   * for what we send on a connection we opened and what we read on one we accepted; false for a
   * reply we write on an accepted connection and for the reply we read on one we opened.
   */
  labelHeader?: boolean;
  compress?: boolean;
}

export interface DecodedPacket {
  messages: Message[];
  /** Parts that could not be decoded (and one TRUNCATED per compound cut short); the others were still delivered. */
  errors: WireError[];
  /** Compound parts declared but cut off by the end of the packet. */
  truncatedParts: number;
}

const MAX_NESTING = 4;
/**
 * Decompressed bytes one UDP packet may expand to, over all its compress wrappers together (a Go
 * peer only compresses what fits in one datagram; a shared budget stops nested compress bombs).
 */
export const MAX_PACKET_EXPANSION = 1 << 20;

function encrypting(o: WireOptions): boolean {
  return (o.keyring?.size ?? 0) > 0 && o.verifyOutgoing !== false;
}

function stripLabel(buf: Uint8Array, label: string | undefined): Uint8Array {
  const want = label ?? '';
  if (buf[0] === MsgType.hasLabel) {
    if (buf.length < 2) throw new WireError('TRUNCATED', 'label header is cut short');
    const len = buf[1]!;
    if (len === 0) throw new WireError('BAD_LABEL', 'label header with an empty label');
    if (buf.length < 2 + len) throw new WireError('TRUNCATED', 'label is cut short');
    const got = Buffer.from(buf.subarray(2, 2 + len)).toString('utf8');
    if (got !== want) throw new WireError('BAD_LABEL', `packet labelled '${got}', this pool uses ${want ? `'${want}'` : 'no label'}`);
    return buf.subarray(2 + len);
  }
  if (want !== '') throw new WireError('BAD_LABEL', `unlabelled packet, this pool uses label '${want}'`);
  return buf;
}

function addLabel(buf: Uint8Array, label: string | undefined): Buffer {
  if (!label) return Buffer.from(buf);
  const l = Buffer.from(label, 'utf8');
  if (l.length > 255) throw new WireError('BAD_LABEL', 'a label is at most 255 bytes');
  return Buffer.concat([Uint8Array.of(MsgType.hasLabel, l.length), l, buf]);
}

/** Decodes one UDP packet into its messages. Throws WireError when the packet as a whole is bad. */
export function decodePacket(packet: Uint8Array, o: WireOptions = {}): DecodedPacket {
  let buf = stripLabel(packet, o.label);
  const labelBytes = o.label ? Buffer.from(o.label) : undefined;
  if ((o.keyring?.size ?? 0) > 0) {
    try {
      buf = decryptPacket(o.keyring!, buf, labelBytes);
    } catch (err) {
      if (o.verifyIncoming !== false) throw err;
    }
  }
  if (buf.length >= 5 && buf[0] === HAS_CRC_MSG) buf = unwrapCrc(buf);
  const out: DecodedPacket = { messages: [], errors: [], truncatedParts: 0 };
  unwrap(buf, 0, out, true, { left: MAX_PACKET_EXPANSION });
  return out;
}

function unwrap(buf: Uint8Array, depth: number, out: DecodedPacket, top: boolean, budget: { left: number }): void {
  if (depth > MAX_NESTING) throw new WireError('TOO_DEEP', `compound/compress nested deeper than ${MAX_NESTING}`);
  if (buf.length === 0) throw new WireError('TRUNCATED', 'empty message');
  const type = buf[0]!;
  if (type === MsgType.compound) {
    const c = decodeCompound(buf);
    if (c.truncated > 0) {
      out.truncatedParts += c.truncated;
      out.errors.push(new WireError('TRUNCATED', `compound of ${c.parts.length + c.truncated} parts: the last ${c.truncated} cut short (the ${c.parts.length} complete ones are kept)`));
    }
    for (const part of c.parts) {
      try {
        unwrap(part, depth + 1, out, false, budget);
      } catch (err) {
        if (!(err instanceof WireError)) throw err;
        out.errors.push(err);
      }
    }
    return;
  }
  if (type === MsgType.compress) {
    const plain = decompressMessage(buf, budget.left);
    budget.left -= plain.length;
    unwrap(plain, depth + 1, out, false, budget);
    return;
  }
  try {
    out.messages.push(decodeMessage(buf));
  } catch (err) {
    if (top || !(err instanceof WireError)) throw err;
    out.errors.push(err);
  }
}

export interface PacketOptions extends WireOptions {
  /** Add the CRC wrapper. When left out, it is added if `peerPMax` (the peer's Vsn[1]) is 5 or more. */
  crc?: boolean;
  peerPMax?: number;
}

/**
 * Builds one UDP packet from encoded messages: a compound when there are several, compressed if
 * that is smaller, a CRC when the peer understands protocol 5, then encryption and label.
 */
export function encodePacket(messages: readonly Uint8Array[], o: PacketOptions = {}): Buffer {
  if (messages.length === 0) throw new WireError('BAD_FIELD', 'a packet needs at least one message');
  let buf: Buffer = messages.length === 1 ? Buffer.from(messages[0]!) : makeCompound(messages);
  if (o.compress) {
    const c = compressMessage(buf);
    if (c.length < buf.length) buf = c;
  }
  if (o.crc ?? (o.peerPMax !== undefined && o.peerPMax >= 5)) buf = wrapCrc(buf);
  if (encrypting(o)) buf = encryptPacket(o.keyring!, buf, o.label ? Buffer.from(o.label) : undefined);
  return addLabel(buf, o.label);
}

// ---- TCP streams ----

export interface PushPull {
  header: PushPullHeader;
  nodes: PushNodeState[];
  userState: Uint8Array;
}

export type StreamMessage =
  | { type: 'pushPull'; pushPull: PushPull }
  | ({ type: 'ping' } & Ping)
  | ({ type: 'ack' } & Ack)
  | { type: 'user'; payload: Uint8Array }
  | { type: 'err'; error: string };

/**
 * Most bytes one stream exchange may take. Go caps the parts (user state and user messages 20 MiB,
 * an encrypted frame 20 MiB, 1 048 576 node states, 40 MiB decompressed), not the whole; this bound
 * leaves room for all of those while still refusing an endless stream.
 */
export const MAX_STREAM = 64 * 1024 * 1024;

/**
 * Decodes a TCP stream (one exchange) from the bytes received so far. Returns undefined while the
 * outermost frame is incomplete, so a reader can call it as data arrives; throws WireError when the
 * stream is malformed, including when a complete encrypted or compressed frame holds a cut-short
 * message (no more bytes can fix that).
 */
export function decodeStream(stream: Uint8Array, o: WireOptions = {}): { message: StreamMessage; end: number } | undefined {
  const state = { inner: false };
  try {
    return decodeStreamFull(stream, o, state);
  } catch (err) {
    if (err instanceof WireError && err.code === 'TRUNCATED' && !state.inner) return undefined;
    throw err;
  }
}

/**
 * How many bytes the stream's first message will take in all, when its header says so (an encrypted
 * frame declares its length), so a receiver decodes once the frame is complete instead of on every
 * chunk; undefined while the header is incomplete or does not say. A wrong label or an encrypted
 * frame that declares too much is an error at once, before the rest is buffered.
 */
export function streamBytesNeeded(stream: Uint8Array, o: WireOptions = {}): number | undefined {
  let labelled: Uint8Array;
  try {
    labelled = o.labelHeader === false ? stream : stripLabel(stream, o.label);
  } catch (err) {
    if (err instanceof WireError && err.code === 'TRUNCATED') return undefined;
    throw err;
  }
  if (labelled.length < 5 || labelled[0] !== MsgType.encrypt) return undefined;
  const len = Buffer.from(labelled.buffer, labelled.byteOffset, labelled.byteLength).readUInt32BE(1);
  if (len > MAX_STREAM) throw new WireError('TOO_LARGE', `encrypted stream of ${len} bytes exceeds ${MAX_STREAM}`);
  return stream.length - labelled.length + 5 + len;
}

/** Decodes a whole received stream; an incomplete one is a TRUNCATED WireError. */
export function decodeCompleteStream(stream: Uint8Array, o: WireOptions = {}): { message: StreamMessage; end: number } {
  return decodeStreamFull(stream, o, { inner: false });
}

function decodeStreamFull(stream: Uint8Array, o: WireOptions, state: { inner: boolean }): { message: StreamMessage; end: number } {
  if (stream.length > MAX_STREAM) throw new WireError('TOO_LARGE', `stream exceeds ${MAX_STREAM} bytes`);
  // A reply carries no label header (see labelHeader): nothing to strip, and a 244 here is no message type.
  const labelled = o.labelHeader === false ? stream : stripLabel(stream, o.label);
  const labelLen = stream.length - labelled.length;
  let buf = labelled;
  let end: number | undefined;
  if (buf.length === 0) throw new WireError('TRUNCATED', 'empty stream');
  if (buf[0] === MsgType.encrypt) {
    if (!o.keyring || o.keyring.size === 0) throw new WireError('DECRYPT', 'an encrypted stream arrived but no key is configured');
    const d = decryptStream(o.keyring, buf, o.label ? Buffer.from(o.label) : undefined);
    state.inner = true; // the frame is complete: whatever is missing inside it will never arrive
    buf = d.plain;
    end = labelLen + d.end;
    if (buf.length === 0) throw new WireError('TRUNCATED', 'empty encrypted stream message');
  } else if ((o.keyring?.size ?? 0) > 0 && o.verifyIncoming !== false) {
    throw new WireError('DECRYPT', 'encryption is configured but the remote stream is not encrypted');
  }
  if (buf[0] === MsgType.compress) {
    const { end: cEnd } = decodeAt(buf, 1);
    state.inner = true;
    const inner = decompressMessage(buf.subarray(0, cEnd));
    end ??= labelLen + cEnd;
    return { message: parseStreamMessage(inner).message, end };
  }
  const parsed = parseStreamMessage(buf);
  return { message: parsed.message, end: end ?? labelLen + parsed.end };
}

function parseStreamMessage(buf: Uint8Array): { message: StreamMessage; end: number } {
  if (buf.length === 0) throw new WireError('TRUNCATED', 'empty stream message');
  const type = buf[0]!;
  switch (type) {
    case MsgType.pushPull: {
      let { value, end } = decodeAt(buf, 1);
      const header = decodePushPullHeader(value);
      const nodes: PushNodeState[] = [];
      for (let i = 0; i < header.nodes; i++) {
        ({ value, end } = decodeAt(buf, end));
        nodes.push(decodePushNodeState(value));
      }
      if (buf.length < end + header.userStateLen) throw new WireError('TRUNCATED', `push-pull user state of ${header.userStateLen} bytes is cut short`);
      const userState = buf.subarray(end, end + header.userStateLen);
      return { message: { type: 'pushPull', pushPull: { header, nodes, userState } }, end: end + header.userStateLen };
    }
    case MsgType.ping:
    case MsgType.ack: {
      const { value, end } = decodeAt(buf, 1);
      const m = decodeBody(type, value);
      return { message: m as StreamMessage, end };
    }
    case MsgType.user: {
      const { value, end } = decodeAt(buf, 1);
      const { userMsgLen } = decodeUserMsgHeader(value);
      if (buf.length < end + userMsgLen) throw new WireError('TRUNCATED', `user message of ${userMsgLen} bytes is cut short`);
      return { message: { type: 'user', payload: buf.subarray(end, end + userMsgLen) }, end: end + userMsgLen };
    }
    case MsgType.err: {
      const { value, end } = decodeAt(buf, 1);
      return { message: { type: 'err', error: decodeErrResp(value).error }, end };
    }
    default:
      throw new WireError('BAD_TYPE', `message type ${type} is not valid on a stream`);
  }
}

/** Frames one stream message as memberlist sends it: compressed if enabled, then encrypted, then labelled (unless labelHeader is false). */
function frameStream(plain: Uint8Array, o: WireOptions): Buffer {
  let buf: Buffer = Buffer.from(plain);
  if (o.compress) buf = compressMessage(buf);
  if (encrypting(o)) buf = encryptStream(o.keyring!, buf, o.label ? Buffer.from(o.label) : undefined);
  return o.labelHeader === false ? buf : addLabel(buf, o.label);
}

export function encodePushPullStream(p: { join: boolean; nodes: readonly PushNodeState[]; userState?: Uint8Array }, o: WireOptions = {}): Buffer {
  const userState = p.userState ?? new Uint8Array();
  const parts = [Uint8Array.of(MsgType.pushPull), encodePushPullHeader({ join: p.join, nodes: p.nodes.length, userStateLen: userState.length }), ...p.nodes.map(encodePushNodeState), userState];
  return frameStream(Buffer.concat(parts), o);
}

/** Frames an already encoded [type][body] message for a stream. */
export function encodeStreamMessage(msg: Uint8Array, o: WireOptions = {}): Buffer {
  return frameStream(msg, o);
}

/** The TCP fallback ping. */
export function encodePingStream(p: Ping, o: WireOptions = {}): Buffer {
  return frameStream(encodePing(p), o);
}

/** The ack a TCP ping is answered with. */
export function encodeAckStream(a: Ack, o: WireOptions = {}): Buffer {
  return frameStream(encodeAck(a), o);
}

/** A reliable user message: [8] + userMsgHeader{UserMsgLen} + the payload. */
export function encodeUserStream(payload: Uint8Array, o: WireOptions = {}): Buffer {
  return frameStream(Buffer.concat([Uint8Array.of(MsgType.user), encodeUserMsgHeader({ userMsgLen: payload.length }), payload]), o);
}

export function encodeErrStream(error: string, o: WireOptions = {}): Buffer {
  return frameStream(encodeErrResp({ error }), o);
}
