// memberlist's message bodies (memberlist.md §2), compounds (§1.4) and the CRC wrapper (§1.5):
// exact bytes on encode, tolerant and typed decode, IPs and Vsn as Go writes them.
import t from 'tap';
import { decodeCompound, makeCompound, packMessages } from '../../src/cluster/wire/compound.js';
import { crc32, unwrapCrc, wrapCrc } from '../../src/cluster/wire/crc.js';
import {
  bytesToIp, decodeCompress, decodeErrResp, decodeMessage, decodePushNodeState, decodePushPullHeader, decodeUserMsgHeader,
  encodeAck, encodeAlive, encodeCompress, encodeDead, encodeErrResp, encodeIndirectPing, encodeMessage, encodeNack, encodePing,
  encodePushNodeState, encodePushPullHeader, encodeSuspect, encodeUser, encodeUserMsgHeader, ipToBytes, MsgType, type Message, type Vsn,
} from '../../src/cluster/wire/messages.js';
import { decode, decodeAt, encode, Encoder } from '../../src/cluster/wire/msgpack.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
/** msgpack fixstr of ASCII text, as hex. */
const s = (text: string) => (0xa0 | text.length).toString(16) + Buffer.from(text).toString('hex');
const vsn: Vsn = [1, 5, 2, 2, 5, 5];

t.test('type constants', async (t) => {
  t.same(MsgType, { ping: 0, indirectPing: 1, ack: 2, suspect: 3, alive: 4, dead: 5, pushPull: 6, compound: 7, user: 8, compress: 9, encrypt: 10, nack: 11, hasCrc: 12, err: 13, hasLabel: 244 });
});

t.test('ping: the captured 66 bytes, and omitempty on the Source* fields only', async (t) => {
  const captured = hex(`00 85 ${s('Node')} ${s('alpha')} ${s('SeqNo')} 01 ${s('SourceAddr')} a4 7f00000c ${s('SourceNode')} ${s('beta')} ${s('SourcePort')} cd 1f0a`);
  t.equal(captured.length, 66);
  const ping = { node: 'alpha', seqNo: 1, sourceAddr: '127.0.0.12', sourcePort: 7946, sourceNode: 'beta' };
  t.same(encodePing(ping), captured);
  t.same(decodeMessage(captured), { type: 'ping', ...ping });
  t.same(encodePing({ node: 'alpha', seqNo: 1 }), hex(`00 82 ${s('Node')} ${s('alpha')} ${s('SeqNo')} 01`), 'no Source*: left out entirely');
  t.same(encodePing({ node: '', seqNo: 0, sourceAddr: '', sourcePort: 0, sourceNode: '' }), hex(`00 82 ${s('Node')} a0 ${s('SeqNo')} 00`), 'zero/empty Source* are left out, Node and SeqNo never');
  t.same(decodeMessage(encodePing({ node: 'a', seqNo: 2 })), { type: 'ping', node: 'a', seqNo: 2, sourceAddr: undefined, sourcePort: undefined, sourceNode: undefined });
});

t.test('indirectPingReq: sorted keys, Target raw, Nack always written', async (t) => {
  const req = { seqNo: 7, target: '10.0.0.2', port: 7946, node: 'n2', nack: false, sourceAddr: '10.0.0.1', sourcePort: 7946, sourceNode: 'n1' };
  const want = hex(`01 88 ${s('Nack')} c2 ${s('Node')} ${s('n2')} ${s('Port')} cd1f0a ${s('SeqNo')} 07 ${s('SourceAddr')} a4 0a000001 ${s('SourceNode')} ${s('n1')} ${s('SourcePort')} cd1f0a ${s('Target')} a4 0a000002`);
  t.same(encodeIndirectPing(req), want);
  t.same(decodeMessage(want), { type: 'indirectPing', ...req });
  t.same(encodeIndirectPing({ seqNo: 7, target: '10.0.0.2', port: 1, node: 'n2', nack: true }), hex(`01 85 ${s('Nack')} c3 ${s('Node')} ${s('n2')} ${s('Port')} 01 ${s('SeqNo')} 07 ${s('Target')} a4 0a000002`));
});

t.test('ack, nack, suspect, dead: nil and empty are different, nothing else is omitted', async (t) => {
  t.same(encodeAck({ seqNo: 3, payload: null }), hex(`02 82 ${s('Payload')} c0 ${s('SeqNo')} 03`), 'nil Payload -> c0');
  t.same(encodeAck({ seqNo: 3, payload: new Uint8Array() }), hex(`02 82 ${s('Payload')} a0 ${s('SeqNo')} 03`), 'empty Payload -> a0');
  t.same(encodeAck({ seqNo: 3, payload: new Uint8Array(130) }).subarray(0, 13), hex(`02 82 ${s('Payload')} da0082`), 'a 130-byte Payload is str16');
  t.same(decodeMessage(encodeAck({ seqNo: 3, payload: null })), { type: 'ack', seqNo: 3, payload: null });
  t.same(encodeNack({ seqNo: 9 }), hex(`0b 81 ${s('SeqNo')} 09`));
  t.same(encodeSuspect({ incarnation: 4, node: 'b', from: 'a' }), hex(`03 83 ${s('From')} ${s('a')} ${s('Incarnation')} 04 ${s('Node')} ${s('b')}`));
  t.same(encodeDead({ incarnation: 1, node: 'ts1', from: 'ts1' }), hex(`05 83 ${s('From')} ${s('ts1')} ${s('Incarnation')} 01 ${s('Node')} ${s('ts1')}`), "§6.5's leave: From == Node");
  for (const m of [{ type: 'nack', seqNo: 2 ** 32 - 1 }, { type: 'suspect', incarnation: 300, node: 'x', from: 'y' }, { type: 'dead', incarnation: 0, node: 'x', from: '' }, { type: 'user', payload: Buffer.from('serf') }] as Message[]) {
    t.same(decodeMessage(encodeMessage(m)), m, `${m.type} round-trips`);
  }
});

t.test('alive and pushNodeState: IP raw, Meta raw, Vsn 6 raw bytes', async (t) => {
  const meta = hex(`ff 82 ${s('role')} ${s('web')} ${s('dc')} ${s('lab')}`);
  const want = hex(`04 86 ${s('Addr')} a4 7f00000b ${s('Incarnation')} 01 ${s('Meta')} b2 ${meta.toString('hex')} ${s('Node')} ${s('alpha')} ${s('Port')} cd1f0a ${s('Vsn')} a6 010502020505`);
  t.equal(want.length, 79, "alpha's alive is the 79-byte part of the captured compound");
  const alive = { incarnation: 1, node: 'alpha', addr: '127.0.0.11', port: 7946, meta, vsn };
  t.same(encodeAlive(alive), want);
  t.same(decodeMessage(want), { type: 'alive', ...alive });
  t.same(encodeAlive({ ...alive, meta: new Uint8Array() }).includes(hex(`${s('Meta')} a0`)), true, 'empty Meta is a0, not left out');

  const state = { name: 'alpha', addr: '127.0.0.11', port: 7946, meta, incarnation: 1, state: 0, vsn };
  const body = encodePushNodeState(state);
  t.same(body.subarray(0, 7), hex(`87 ${s('Addr')} a4`), 'a 7-key map with no type byte');
  t.same(decodePushNodeState(decode(body)), state);

  t.throws(() => encodeAlive({ ...alive, vsn: [1, 5, 2] as unknown as Vsn }), { code: 'BAD_VSN' }, 'we never send a short Vsn (it crashes memberlist 0.2.2)');
  t.throws(() => encodeAlive({ ...alive, vsn: [1, 5, 2, 2, 5, 256] }), { code: 'BAD_VSN' });
  const short = Buffer.from(want.toString('hex').replace('a6010502020505', 'a3010502'), 'hex');
  t.throws(() => decodeMessage(short), { code: 'BAD_VSN', message: /3 bytes/ }, 'a 3-byte Vsn is refused');
  const long = Buffer.from(want.toString('hex').replace('a6010502020505', 'a7010502020505ff'), 'hex');
  t.throws(() => decodeMessage(long), { code: 'BAD_VSN' }, 'so is a 7-byte one');
  t.throws(() => decodePushNodeState(decode(Buffer.from(body.toString('hex').replace('a6010502020505', 'c0'), 'hex'))), { code: 'BAD_VSN' }, 'and a nil one');
});

t.test('IPs: 4 bytes for IPv4, 16 for IPv6, IPv4-mapped read (and written) as IPv4', async (t) => {
  t.same([...ipToBytes('127.0.0.12')], [127, 0, 0, 12]);
  t.same([...ipToBytes('::ffff:10.0.0.1')], [10, 0, 0, 1], "like Go's To4");
  t.equal(ipToBytes('fd00::5').length, 16);
  t.equal(bytesToIp(ipToBytes('fd00::5'), 'x'), 'fd00::5');
  t.equal(bytesToIp(ipToBytes('2001:db8:0:0:1:0:0:1'), 'x'), '2001:db8::1:0:0:1', 'RFC 5952: the first longest zero run');
  t.equal(bytesToIp(ipToBytes('::'), 'x'), '::');
  t.equal(bytesToIp(ipToBytes('1:2:3:4:5:6:7:8'), 'x'), '1:2:3:4:5:6:7:8');
  t.equal(bytesToIp(hex('00000000000000000000ffff0a000001'), 'x'), '10.0.0.1', '16-byte IPv4-mapped');
  t.throws(() => bytesToIp(new Uint8Array(5), 'alive.Addr'), { code: 'BAD_FIELD', message: /alive\.Addr holds 5 bytes/ });
  t.throws(() => ipToBytes('alpha'), { code: 'BAD_FIELD' });
  const v6 = encodeAlive({ incarnation: 1, node: 'n', addr: 'fd00::1', port: 1, meta: new Uint8Array(), vsn });
  t.match(decodeMessage(v6), { addr: 'fd00::1' });
  t.ok(v6.includes(hex(`${s('Addr')} b0 fd00`)), 'IPv6 is raw(16)');
});

t.test('push/pull header, user message header, errResp, compress', async (t) => {
  t.same(encodePushPullHeader({ join: true, nodes: 1, userStateLen: 589 }), hex(`83 ${s('Join')} c3 ${s('Nodes')} 01 ${s('UserStateLen')} cd024d`), 'the captured header');
  t.same(decodePushPullHeader(decode(hex(`83 ${s('Join')} c3 ${s('Nodes')} 01 ${s('UserStateLen')} d1024d`))), { join: true, nodes: 1, userStateLen: 589 }, 'go-msgpack v2 signed ints read too');
  t.throws(() => decodePushPullHeader(decode(encode({ Join: false, Nodes: 2 ** 21, UserStateLen: 0 }))), { code: 'BAD_FIELD' }, 'more than 1 048 576 nodes is refused');
  t.throws(() => decodePushPullHeader(decode(encode({ Nodes: -1 }))), { code: 'BAD_FIELD' });
  t.same(encodeUserMsgHeader({ userMsgLen: 300 }), hex(`81 ${s('UserMsgLen')} cd012c`));
  t.same(decodeUserMsgHeader(decode(encodeUserMsgHeader({ userMsgLen: 300 }))), { userMsgLen: 300 });
  t.same(encodeErrResp({ error: 'boom' }), hex(`0d 81 ${s('Error')} ${s('boom')}`));
  t.same(decodeErrResp(decode(hex(`81 ${s('Error')} ${s('boom')}`))), { error: 'boom' });
  t.same(encodeCompress({ algo: 0, buf: hex('000f') }), hex(`09 82 ${s('Algo')} 00 ${s('Buf')} a2 000f`));
  t.same(decodeCompress(decodeAt(encodeCompress({ algo: 1, buf: hex('00') }), 1).value), { algo: 1, buf: hex('00') });
  t.same(encodeUser(Buffer.from('x')), hex('08 78'), 'a UDP user message is [8] + its bytes');
});

t.test('decoding is tolerant like Go (unknown keys, missing keys) and strict on types', async (t) => {
  const extra = Buffer.concat([hex('00'), new Encoder().map({ Node: 'a', SeqNo: 1, Future: [1, 2] }).finish()]);
  t.match(decodeMessage(extra), { type: 'ping', node: 'a', seqNo: 1 }, 'unknown keys are skipped');
  t.match(decodeMessage(hex('0080')), { type: 'ping', node: '', seqNo: 0 }, 'missing keys are zero');
  t.match(decodeMessage(Buffer.concat([encodePing({ node: 'a', seqNo: 1 }), hex('ffff')])), { node: 'a' }, 'bytes after the body are ignored, as Go reads one value');
  t.throws(() => decodeMessage(Buffer.concat([hex('00'), encode({ Node: 5 })])), { code: 'BAD_FIELD', message: /ping\.Node/ });
  t.throws(() => decodeMessage(Buffer.concat([hex('00'), encode({ SeqNo: 2 ** 32 })])), { code: 'BAD_FIELD', message: /SeqNo/ }, 'SeqNo is a uint32');
  t.throws(() => decodeMessage(Buffer.concat([hex('04'), encode({ Port: 70000 })])), { code: 'BAD_FIELD' });
  t.throws(() => decodeMessage(hex('009101')), { code: 'BAD_FIELD', message: /not a map/ });
  t.throws(() => decodeMessage(hex('')), { code: 'TRUNCATED' });
  for (const type of [6, 7, 9, 10, 12, 13, 14, 200, 244]) t.throws(() => decodeMessage(Uint8Array.of(type, 0x80)), { code: 'BAD_TYPE' }, `type ${type} is not a plain message`);
});

t.test('compound: make, decode, keep complete parts when cut short, split by budget', async (t) => {
  const c = makeCompound([Buffer.from('aa'), Buffer.from('bbb'), Buffer.from('c')]);
  t.same(c, hex('07 03 0002 0003 0001 6161 626262 63'));
  t.same(decodeCompound(c).parts.map((p) => Buffer.from(p).toString()), ['aa', 'bbb', 'c']);
  t.same(decodeCompound(c.subarray(0, c.length - 2)), { parts: [Buffer.from('aa')], truncated: 2 }, 'the cut parts are counted, the whole one kept');
  t.same(decodeCompound(c.subarray(0, 8)), { parts: [], truncated: 3 });
  t.throws(() => decodeCompound(hex('07')), { code: 'TRUNCATED', message: /no part count/ });
  t.throws(() => decodeCompound(hex('07 03 0002 00')), { code: 'TRUNCATED', message: /length table/ });
  t.same(decodeCompound(hex('0700')), { parts: [], truncated: 0 });
  t.throws(() => makeCompound(new Array(256).fill(Buffer.from('x'))), { code: 'TOO_LARGE' });
  t.throws(() => makeCompound([Buffer.alloc(65536)]), { code: 'TOO_LARGE' });

  const msgs = Array.from({ length: 10 }, (_, i) => Buffer.alloc(300, i));
  const packed = packMessages(msgs, 1400);
  t.ok(packed.every((p) => p.length <= 1400), 'every compound fits the budget');
  t.equal(packed.length, 3, '4 + 4 + 2 messages of 300 bytes in 1400');
  t.same(packed.flatMap((p) => (p[0] === 7 ? decodeCompound(p).parts.map((x) => Buffer.from(x)) : [p])), msgs, 'in order, none lost');
  t.same(packMessages([Buffer.from('solo')], 1400), [Buffer.from('solo')], 'a single message is sent bare');
  t.equal(packMessages(new Array(600).fill(Buffer.from('x')), 1 << 20).length, 3, 'at most 255 parts per compound');
  t.same(packMessages([], 1400), []);
});

t.test('CRC-32/IEEE and the hasCrc wrapper', async (t) => {
  t.equal(crc32(Buffer.from('123456789')).toString(16), 'cbf43926', 'the check value');
  t.equal(crc32(new Uint8Array()), 0);
  const join = hex(`08 01 82 ${s('LTime')} 01 ${s('Node')} ${s('beta')}`);
  t.same(wrapCrc(join).subarray(0, 5), hex('0c aada2b16'), "§6.5's join intent: CRC aada2b16");
  const w = wrapCrc(Buffer.from('hello'));
  t.same(Buffer.from(unwrapCrc(w)), Buffer.from('hello'));
  w[w.length - 1]! ^= 1;
  t.throws(() => unwrapCrc(w), { code: 'BAD_CRC', message: /mismatch/ });
  t.throws(() => unwrapCrc(hex('0c0000')), { code: 'TRUNCATED' });
});
