// src/kernel/ipvs-wire.ts byte for byte. Every expected request below is spelled out by hand from the
// uapi headers (linux/netlink.h: nlmsghdr {u32 len, u16 type, u16 flags, u32 seq, u32 pid};
// linux/genetlink.h: genlmsghdr {u8 cmd, u8 version, u16 reserved}; nlattr {u16 len, u16 type},
// value padded to 4; linux/ip_vs.h: the IPVS_* numbers and struct ip_vs_flags {u32 flags, u32 mask}).
// Host order is little endian; ports and NETMASK are big endian (be16 / be32) as the header says.
// Replies are hand-built the same way and decoded.
import t from 'tap';
import { formatMessage } from 'netlink';
import { KernelError } from '../../src/kernel/errors.js';
import { FakeGenlTransport, FakeIpvsKernel } from '../../src/kernel/ipvs-fake.js';
import { destToWire, Ipvs, keyToWire, specToWire } from '../../src/kernel/ipvs.js';
import type { GenlTransport } from '../../src/kernel/genl-socket.js';
import {
  decodeDests, decodeFamily, decodeServices, encodeGetFamily, encodeIpvsRequest, encodeNlMsg, interpretReply, IPVS_CMD,
  NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, parseAttrs, parseNlMsgs, type NlMsg, decodeServiceNest, decodeTimeouts, decodeInfo,
} from '../../src/kernel/ipvs-wire.js';

/** Hex with spaces, newlines and '#' comments allowed. */
function hex(text: string): Buffer {
  const clean = text.replace(/#[^\n]*/g, '').replace(/\s+/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(clean)) throw new Error(`bad hex fixture: ${clean}`);
  return Buffer.from(clean, 'hex');
}

const FAMILY = 0x22;
const SEQ = 7;
const PORT = 4242; // 0x1092 -> 92 10 00 00
const REQ = NLM_F_REQUEST | NLM_F_ACK; // 0x0005
const DUMP = REQ | NLM_F_DUMP; // 0x0305

function request(payload: Buffer, flags = REQ, type = FAMILY): Buffer {
  return encodeNlMsg({ type, flags, seq: SEQ, port: PORT, payload });
}

t.test('NEW_SERVICE by fwmark: AF_INET, fwmark 260, rr, flags {0, ~0}, timeout 0, netmask 255.255.255.255', async (t) => {
  const got = request(encodeIpvsRequest(IPVS_CMD.NEW_SERVICE, { service: specToWire({ fwmark: 260, scheduler: 'rr' }) }));
  t.same(got, hex(`
    4c000000 2200 0500 07000000 92100000   # nlmsghdr: len 76, type 0x22 (IPVS id), REQUEST|ACK, seq 7, pid 4242
    01 01 0000                              # genlmsghdr: IPVS_CMD_NEW_SERVICE, IPVS_GENL_VERSION 1
    3800 0180                               # IPVS_CMD_ATTR_SERVICE (1) | NLA_F_NESTED, len 56
      0600 0100 0200 0000                   #   IPVS_SVC_ATTR_AF u16 AF_INET, 2 bytes padding
      0800 0500 04010000                    #   IPVS_SVC_ATTR_FWMARK u32 260
      0700 0600 727200 00                   #   IPVS_SVC_ATTR_SCHED_NAME "rr\\0", 1 byte padding
      0c00 0700 00000000 ffffffff           #   IPVS_SVC_ATTR_FLAGS struct ip_vs_flags {flags 0, mask ~0}
      0800 0800 00000000                    #   IPVS_SVC_ATTR_TIMEOUT u32 0
      0800 0900 ffffffff                    #   IPVS_SVC_ATTR_NETMASK be32 255.255.255.255
  `));
});

t.test('NEW_SERVICE by address: tcp 10.0.1.2:80 wrr (ADDR in 16 bytes, PORT big endian)', async (t) => {
  const got = request(encodeIpvsRequest(IPVS_CMD.NEW_SERVICE, { service: specToWire({ protocol: 'tcp', address: '10.0.1.2', port: 80, scheduler: 'wrr' }) }));
  t.same(got, hex(`
    68000000 2200 0500 07000000 92100000   # len 104
    01 01 0000
    5400 0180                               # SERVICE, len 84
      0600 0100 0200 0000                   #   AF_INET
      0600 0200 0600 0000                   #   IPVS_SVC_ATTR_PROTOCOL u16 IPPROTO_TCP
      1400 0300 0a000102 00000000 00000000 00000000  # IPVS_SVC_ATTR_ADDR union nf_inet_addr 10.0.1.2
      0600 0400 0050 0000                   #   IPVS_SVC_ATTR_PORT be16 80
      0800 0600 77727200                    #   SCHED_NAME "wrr\\0"
      0c00 0700 00000000 ffffffff           #   FLAGS
      0800 0800 00000000                    #   TIMEOUT
      0800 0900 ffffffff                    #   NETMASK
  `));
});

t.test('NEW_SERVICE for IPv6: udp [fd00::2]:53, NETMASK is the prefix length 128 in host order', async (t) => {
  const got = request(encodeIpvsRequest(IPVS_CMD.NEW_SERVICE, { service: specToWire({ protocol: 'udp', address: 'fd00::2', port: 53 }) }));
  t.same(got, hex(`
    68000000 2200 0500 07000000 92100000
    01 01 0000
    5400 0180
      0600 0100 0a00 0000                   #   AF_INET6
      0600 0200 1100 0000                   #   IPPROTO_UDP
      1400 0300 fd000000 00000000 00000000 00000002
      0600 0400 0035 0000                   #   be16 53
      0700 0600 727200 00                   #   "rr\\0"
      0c00 0700 00000000 ffffffff
      0800 0800 00000000
      0800 0900 80000000                    #   NETMASK: __be32 in ip_vs_ctl.c, but an IPv6 prefix length is read back
                                            #   with a (__force __u32) cast, so 128 travels in host order (as ipvsadm sends it)
  `));
  const back = decodeServiceNest(parseAttrs(got.subarray(20))[0]!.value);
  t.equal(back.netmask, 128, 'and decodes back to 128');
  const v4 = decodeServiceNest(parseAttrs(request(encodeIpvsRequest(IPVS_CMD.NEW_SERVICE, { service: specToWire({ fwmark: 1, netmask: 0xffffff00 }) })).subarray(20))[0]!.value);
  t.equal(v4.netmask, 0xffffff00, 'an IPv4 mask stays a network-order mask');
});

t.test('SET_SERVICE: persistent (IP_VS_SVC_F_PERSISTENT 0x1), timeout 300, netmask /24, wlc', async (t) => {
  const got = request(encodeIpvsRequest(IPVS_CMD.SET_SERVICE, { service: specToWire({ fwmark: 260, scheduler: 'wlc', flags: 1, timeout: 300, netmask: 0xffffff00 }) }));
  t.same(got, hex(`
    4c000000 2200 0500 07000000 92100000
    02 01 0000                              # IPVS_CMD_SET_SERVICE
    3800 0180
      0600 0100 0200 0000
      0800 0500 04010000
      0800 0600 776c6300                    #   "wlc\\0"
      0c00 0700 01000000 ffffffff           #   flags PERSISTENT, mask ~0
      0800 0800 2c010000                    #   300
      0800 0900 ffffff00                    #   255.255.255.0
  `));
});

t.test('DEL_SERVICE and GET_DEST carry only the identifying attributes; dumps set NLM_F_DUMP', async (t) => {
  const del = request(encodeIpvsRequest(IPVS_CMD.DEL_SERVICE, { service: keyToWire({ fwmark: 260 }) }));
  t.same(del, hex(`
    28000000 2200 0500 07000000 92100000   # len 40
    03 01 0000                              # IPVS_CMD_DEL_SERVICE
    1400 0180                               # SERVICE, len 20
      0600 0100 0200 0000
      0800 0500 04010000
  `));
  const getDest = request(encodeIpvsRequest(IPVS_CMD.GET_DEST, { service: keyToWire({ fwmark: 260 }) }), DUMP);
  t.same(getDest, hex(`
    28000000 2200 0503 07000000 92100000   # flags REQUEST|ACK|ROOT|MATCH = 0x0305
    08 01 0000                              # IPVS_CMD_GET_DEST
    1400 0180 0600 0100 0200 0000 0800 0500 04010000
  `));
  const getSvc = request(encodeIpvsRequest(IPVS_CMD.GET_SERVICE), DUMP);
  t.same(getSvc, hex('14000000 2200 0503 07000000 92100000  04 01 0000'), 'GET_SERVICE dump: no attributes');
  const v6 = request(encodeIpvsRequest(IPVS_CMD.DEL_SERVICE, { service: keyToWire({ protocol: 'udp', address: 'fd00::2', port: 53 }) }));
  t.same(v6, hex(`
    44000000 2200 0500 07000000 92100000   # len 68
    03 01 0000
    3000 0180                               # SERVICE, len 48
      0600 0100 0a00 0000                   #   AF_INET6 (10)
      0600 0200 1100 0000                   #   IPPROTO_UDP (17)
      1400 0300 fd000000 00000000 00000000 00000002  # fd00::2
      0600 0400 0035 0000                   #   port 53
  `), 'an IPv6 service key');
});

t.test('NEW_DEST / SET_DEST / DEL_DEST: masquerade, weight, thresholds, address family', async (t) => {
  const svc = keyToWire({ fwmark: 260 });
  const add = request(encodeIpvsRequest(IPVS_CMD.NEW_DEST, { service: svc, dest: destToWire({ address: '10.0.1.11', port: 0, forward: 'masquerade', weight: 1 }, true) }));
  t.same(add, hex(`
    70000000 2200 0500 07000000 92100000   # len 112
    05 01 0000                              # IPVS_CMD_NEW_DEST
    1400 0180 0600 0100 0200 0000 0800 0500 04010000   # SERVICE fwmark 260
    4800 0280                               # IPVS_CMD_ATTR_DEST (2) | NLA_F_NESTED, len 72
      1400 0100 0a00010b 00000000 00000000 00000000  # IPVS_DEST_ATTR_ADDR 10.0.1.11
      0600 0200 0000 0000                   #   IPVS_DEST_ATTR_PORT be16 0
      0800 0300 00000000                    #   IPVS_DEST_ATTR_FWD_METHOD IP_VS_CONN_F_MASQ
      0800 0400 01000000                    #   IPVS_DEST_ATTR_WEIGHT 1
      0800 0500 00000000                    #   IPVS_DEST_ATTR_U_THRESH 0
      0800 0600 00000000                    #   IPVS_DEST_ATTR_L_THRESH 0
      0600 0b00 0200 0000                   #   IPVS_DEST_ATTR_ADDR_FAMILY AF_INET
  `));
  const quiesce = request(encodeIpvsRequest(IPVS_CMD.SET_DEST, { service: svc, dest: destToWire({ address: '10.0.1.11', port: 8080, weight: 0, upperThreshold: 100, lowerThreshold: 50, forward: 'route' }, true) }));
  t.same(quiesce, hex(`
    70000000 2200 0500 07000000 92100000
    06 01 0000                              # IPVS_CMD_SET_DEST
    1400 0180 0600 0100 0200 0000 0800 0500 04010000
    4800 0280
      1400 0100 0a00010b 00000000 00000000 00000000
      0600 0200 1f90 0000                   #   port 8080
      0800 0300 03000000                    #   IP_VS_CONN_F_DROUTE
      0800 0400 00000000                    #   weight 0: quiesced
      0800 0500 64000000                    #   upper 100
      0800 0600 32000000                    #   lower 50
      0600 0b00 0200 0000
  `));
  const negative = request(encodeIpvsRequest(IPVS_CMD.NEW_DEST, { service: svc, dest: destToWire({ address: '10.0.1.11', port: 0, weight: -1 }, true) }));
  t.same(negative.subarray(80, 88), hex('0800 0400 ffffffff'), "a negative weight goes out as the kernel's int (two's complement), for the kernel to refuse");
  const del = request(encodeIpvsRequest(IPVS_CMD.DEL_DEST, { service: svc, dest: destToWire({ address: '10.0.1.11', port: 0 }, false) }));
  t.same(del, hex(`
    50000000 2200 0500 07000000 92100000   # len 80
    07 01 0000                              # IPVS_CMD_DEL_DEST
    1400 0180 0600 0100 0200 0000 0800 0500 04010000
    2800 0280                               # DEST, len 40: address, port, family only
      1400 0100 0a00010b 00000000 00000000 00000000
      0600 0200 0000 0000
      0600 0b00 0200 0000
  `));
});

t.test('FLUSH, GET_INFO, GET_CONFIG, SET_CONFIG, and nlctrl GETFAMILY "IPVS"', async (t) => {
  t.same(request(encodeIpvsRequest(IPVS_CMD.FLUSH)), hex('14000000 2200 0500 07000000 92100000  11 01 0000'), 'FLUSH (17)');
  t.same(request(encodeIpvsRequest(IPVS_CMD.GET_INFO)), hex('14000000 2200 0500 07000000 92100000  0f 01 0000'), 'GET_INFO (15)');
  t.same(request(encodeIpvsRequest(IPVS_CMD.GET_CONFIG)), hex('14000000 2200 0500 07000000 92100000  0d 01 0000'), 'GET_CONFIG (13)');
  t.same(request(encodeIpvsRequest(IPVS_CMD.SET_CONFIG, { timeouts: { tcp: 7200, udp: 0 } })), hex(`
    24000000 2200 0500 07000000 92100000   # len 36
    0c 01 0000                              # IPVS_CMD_SET_CONFIG (12)
    0800 0400 201c0000                      # IPVS_CMD_ATTR_TIMEOUT_TCP 7200
    0800 0600 00000000                      # IPVS_CMD_ATTR_TIMEOUT_UDP 0 (unchanged)
  `), 'SET_CONFIG');
  t.same(request(encodeGetFamily('IPVS'), REQ, 0x10), hex(`
    20000000 1000 0500 07000000 92100000   # to GENL_ID_CTRL (0x10)
    03 01 0000                              # CTRL_CMD_GETFAMILY, version 1
    0900 0200 49505653 00 000000            # CTRL_ATTR_FAMILY_NAME "IPVS\\0", 3 bytes padding
  `));
});

t.test("the netlink package writes the same nlmsghdr as ours (what really goes on the socket)", async (t) => {
  for (const [payload, flags] of [[encodeIpvsRequest(IPVS_CMD.NEW_SERVICE, { service: specToWire({ fwmark: 260 }) }), REQ], [encodeIpvsRequest(IPVS_CMD.GET_SERVICE), DUMP]] as const) {
    const theirs = Buffer.concat(formatMessage({ type: FAMILY, flags, seq: SEQ, port: PORT, data: payload }));
    t.same(theirs, request(payload, flags), `flags 0x${flags.toString(16)}`);
  }
  // The package ORs REQUEST|ACK into what it is given; genl-socket.ts passes only NLM_F_DUMP, so the result is the same.
});

// ---- replies, hand-built ----

/** Test-side builders, independent of ipvs-wire.ts: nlattr and nlmsghdr per linux/netlink.h. */
function attr(type: number, value: string | Buffer): Buffer {
  const v = typeof value === 'string' ? hex(value) : value;
  const out = Buffer.alloc((4 + v.length + 3) & ~3);
  out.writeUInt16LE(4 + v.length, 0);
  out.writeUInt16LE(type, 2);
  v.copy(out, 4);
  return out;
}
const nest = (type: number, ...children: Buffer[]): Buffer => attr(type, Buffer.concat(children)); // the kernel's replies: no NLA_F_NESTED
function nlmsg(type: number, flags: number, seq: number, payload: Buffer): Buffer {
  const out = Buffer.alloc(16 + payload.length);
  out.writeUInt32LE(16 + payload.length, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE(flags, 6);
  out.writeUInt32LE(seq, 8);
  out.writeUInt32LE(PORT, 12);
  payload.copy(out, 16);
  return out;
}
const genl = (cmd: number, ...attrs: Buffer[]): Buffer => Buffer.concat([Buffer.from([cmd, 1, 0, 0]), ...attrs]);
const u32 = (n: number): string => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b.toString('hex'); };
const u64 = (n: number): string => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b.toString('hex'); };

/** A STATS nest the way x86_64 writes it: u32 counters, u64 bytes, no PAD. */
function stats(conns: number, inbytes: number, inpkts = 3, outpkts = 4, outbytes = 99): Buffer {
  return nest(10, attr(1, u32(conns)), attr(2, u32(inpkts)), attr(3, u32(outpkts)), attr(4, u64(inbytes)), attr(5, u64(outbytes)), attr(6, u32(0)), attr(7, u32(0)), attr(8, u32(0)), attr(9, u32(0)), attr(10, u32(0)));
}

t.test('a multi-part GET_SERVICE dump over two datagrams, ended by NLMSG_DONE', async (t) => {
  const tcpSvc = nest(1, attr(1, '0200'), attr(2, '0600'), attr(3, '0a000102' + '00'.repeat(12)), attr(4, '0050'), attr(6, '77727200'),
    attr(7, '02000000ffffffff'), attr(8, u32(0)), attr(9, 'ffffffff'), stats(5, 1000),
    nest(12, attr(1, u64(5)), attr(2, u64(3)), attr(3, u64(4)), attr(4, u64(1_000)), attr(5, u64(99)), attr(11, '00000000'), attr(6, u64(0)), attr(7, u64(0)), attr(8, u64(0)), attr(9, u64(0)), attr(10, u64(0))));
  const fwSvc = nest(1, attr(1, '0200'), attr(5, u32(260)), attr(6, '727200'), attr(11, '73697000'), attr(7, '03000000ffffffff'), attr(8, u32(300)), attr(9, 'ffffff00'));
  const datagram1 = Buffer.concat([nlmsg(FAMILY, 0x2, SEQ, genl(1, tcpSvc)), nlmsg(FAMILY, 0x2, SEQ, genl(1, fwSvc))]);
  const datagram2 = nlmsg(3, 0x2, SEQ, hex('00000000')); // NLMSG_DONE, NLM_F_MULTI, int 0
  const msgs = [...parseNlMsgs(datagram1), ...parseNlMsgs(datagram2)];
  t.equal(msgs.length, 3);
  const reply = interpretReply(msgs, FAMILY, SEQ);
  t.ok(reply.ok);
  if (!reply.ok) return;
  const [a, b] = decodeServices(reply.messages);
  t.same(a, {
    af: 2, protocol: 6, addr: hex('0a000102' + '00'.repeat(12)), port: 80, schedName: 'wrr', flags: { flags: 2, mask: 0xffffffff }, timeout: 0, netmask: 0xffffffff,
    stats: { conns: 5n, inpkts: 3n, outpkts: 4n, inbytes: 1000n, outbytes: 99n, cps: 0n, inpps: 0n, outpps: 0n, inbps: 0n, outbps: 0n },
  }, 'address service; STATS64 preferred; IPVS_STATS_ATTR_PAD skipped');
  t.same(b, { af: 2, fwmark: 260, schedName: 'rr', peName: 'sip', flags: { flags: 3, mask: 0xffffffff }, timeout: 300, netmask: 0xffffff00 }, 'fwmark service with a persistence engine');

  // The same bytes through the Ipvs class: HASHED (0x2) is the kernel's business and is not shown.
  const ipvs = await Ipvs.over(replaying([[family()], msgs]));
  const list = await ipvs.listServices();
  t.match(list, [{ protocol: 'tcp', address: '10.0.1.2', port: 80, family: 4, scheduler: 'wrr', flags: 0 }, { fwmark: 260, flags: 1, persistenceEngine: 'sip', timeout: 300 }]);
});

t.test('a GET_DEST dump part, every attribute of ip_vs_genl_fill_dest in its order', async (t) => {
  const dest = nest(2, attr(1, '0a00010b' + '00'.repeat(12)), attr(2, '1f90'), attr(3, u32(0)), attr(4, u32(0)), attr(13, '00'), attr(14, '0000'),
    attr(15, '0000'), attr(5, u32(100)), attr(6, u32(50)), attr(7, u32(12)), attr(8, u32(3)), attr(9, u32(0)), attr(11, '0200'), stats(7, 2048));
  const msgs = parseNlMsgs(Buffer.concat([nlmsg(FAMILY, 0x2, SEQ, genl(5, dest)), nlmsg(3, 0x2, SEQ, hex('00000000'))]));
  const reply = interpretReply(msgs, FAMILY);
  if (!reply.ok) return t.fail('no error expected');
  t.match(decodeDests(reply.messages), [{ port: 8080, fwdMethod: 0, weight: 0, uThresh: 100, lThresh: 50, activeConns: 12, inactConns: 3, persistConns: 0, af: 2, tunType: 0 }]);
  const ipvs = await Ipvs.over(replaying([[family()], msgs]));
  t.match(await ipvs.listDestinations({ fwmark: 260 }), [{ address: '10.0.1.11', port: 8080, forward: 'masquerade', weight: 0, upperThreshold: 100, lowerThreshold: 50, activeConnections: 12, inactiveConnections: 3, family: 4 }]);
});

t.test('NLMSG_ERROR with an errno, an ACK, and NLMSG_DONE carrying an error', async (t) => {
  const del = request(encodeIpvsRequest(IPVS_CMD.DEL_SERVICE, { service: keyToWire({ fwmark: 260 }) }));
  const esrch = nlmsg(2, 0, SEQ, Buffer.concat([hex('fdffffff'), del])); // nlmsgerr { error -3, the whole request echoed }
  t.same(interpretReply(parseNlMsgs(esrch), FAMILY), { ok: false, errno: 3 });
  const ack = nlmsg(2, 0x100, SEQ, Buffer.concat([hex('00000000'), del.subarray(0, 16)])); // NLM_F_CAPPED: only the header echoed
  t.same(interpretReply(parseNlMsgs(ack), FAMILY), { ok: true, messages: [] });
  const doneErr = nlmsg(3, 0x2, SEQ, hex('eaffffff')); // NLMSG_DONE { int -EINVAL }
  t.same(interpretReply(parseNlMsgs(doneErr), FAMILY), { ok: false, errno: 22 });
  const ipvs = await Ipvs.over(replaying([[family()], parseNlMsgs(esrch)]));
  const err = await ipvs.deleteService({ fwmark: 260 }).catch((e: unknown) => e);
  t.type(err, KernelError);
  t.match(err, { code: 'ESRCH', op: 'delete ipvs service fwmark 260 in replay' });
  t.match((err as Error).message, /no such virtual service \(add the service first\)/, 'says what to do');
});

t.test('GETFAMILY reply: the id comes from CTRL_ATTR_FAMILY_ID, nested lists are skipped', async (t) => {
  const payload = genl(1,
    attr(2, '4950565300'), attr(1, '2200'), attr(3, u32(1)), attr(4, u32(0)), attr(5, u32(6)),
    nest(6, nest(1, attr(1, u32(1)), attr(2, u32(0x0b)))));
  const [m] = parseNlMsgs(nlmsg(0x10, 0, 1, payload));
  const r = interpretReply([m!], 0x10);
  if (!r.ok) return t.fail('ok expected');
  t.same(decodeFamily(r.messages[0]!), { id: 0x22, name: 'IPVS', version: 1, hdrSize: 0, maxAttr: 6 });
  const missing = nlmsg(2, 0, 1, Buffer.concat([hex('feffffff'), request(encodeGetFamily('IPVS'), REQ, 0x10)]));
  const err = await Ipvs.over(replaying([parseNlMsgs(missing)])).catch((e: unknown) => e);
  t.match(err, { code: 'ENOENT', message: /this kernel has no ip_vs/ }, 'no IPVS family: the error says so');
});

t.test('GET_INFO and GET_CONFIG replies', async (t) => {
  const info = genl(14, attr(1, u32(0x010201)), attr(2, u32(4096)));
  t.same(decodeInfo({ cmd: 14, version: 1, attrs: info.subarray(4) }), { versionCode: 0x010201, connTabSize: 4096 });
  const cfg = genl(12, attr(4, u32(900)), attr(5, u32(120)), attr(6, u32(300)));
  t.same(decodeTimeouts({ cmd: 12, version: 1, attrs: cfg.subarray(4) }), { tcp: 900, tcpFin: 120, udp: 300 });
});

t.test("the fake's answers, byte for byte", async (t) => {
  const kernel = new FakeIpvsKernel();
  const transport = new FakeGenlTransport(kernel);
  await Ipvs.over(transport);
  const add = request(encodeIpvsRequest(IPVS_CMD.NEW_SERVICE, { service: specToWire({ fwmark: 260 }) }));
  t.same(kernel.handle(add), [Buffer.concat([hex('24000000 0200 0001 07000000 92100000  00000000'), add.subarray(0, 16)])], 'ACK: NLMSG_ERROR, NLM_F_CAPPED, error 0, request header echoed');
  t.same(kernel.handle(add), [Buffer.concat([hex('60000000 0200 0000 07000000 92100000  efffffff'), add])], 'EEXIST: error -17, the whole request echoed (len 16 + 4 + 76)');
  const dump = kernel.handle(request(encodeIpvsRequest(IPVS_CMD.GET_SERVICE), DUMP));
  t.equal(dump.length, 1, 'one datagram');
  const svc = nest(1, attr(1, '0200'), attr(5, u32(260)), attr(6, '727200'), attr(7, '02000000ffffffff'), attr(8, u32(0)), attr(9, 'ffffffff'),
    stats(0, 0, 0, 0, 0), nest(12, ...[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => attr(i, u64(0)))));
  t.same(dump[0], Buffer.concat([nlmsg(FAMILY, 0x2, SEQ, genl(1, svc)), nlmsg(3, 0x2, SEQ, hex('00000000'))]), 'NEW_SERVICE part (HASHED set, nests without NLA_F_NESTED, zero stats) then NLMSG_DONE');
});

t.test('bad bytes are EBADMSG, never a crash', async (t) => {
  t.throws(() => parseAttrs(hex('0800 0100 0000')), { code: 'EBADMSG' }, 'an attribute longer than the buffer');
  t.throws(() => parseAttrs(hex('0200 0100')), { code: 'EBADMSG' }, 'an attribute shorter than its header');
  t.throws(() => parseNlMsgs(hex('ff000000 0200 0000 00000000 00000000')), { code: 'EBADMSG' }, 'a message longer than the datagram');
  t.throws(() => decodeServiceNest(attr(1, '02')), { code: 'EBADMSG' }, 'a u16 of one byte');
  let seed = 12345;
  const rand = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
  let others = 0;
  for (let i = 0; i < 3000; i++) {
    const buf = Buffer.from(Array.from({ length: 16 + (rand() % 120) }, rand));
    buf.writeUInt32LE(buf.length - (rand() % 3), 0);
    for (const fn of [() => interpretReply(parseNlMsgs(buf), FAMILY), () => decodeServiceNest(buf.subarray(16)), () => decodeDests([{ cmd: 5, version: 1, attrs: buf.subarray(16) }])]) {
      try {
        fn();
      } catch (err) {
        if (!(err instanceof KernelError)) others++;
      }
    }
  }
  t.equal(others, 0, 'random bytes only ever raise KernelErrors');
});

// ---- helpers ----

/** A GETFAMILY reply saying IPVS has id FAMILY. */
function family(): NlMsg {
  const payload = genl(1, attr(2, '4950565300'), attr(1, '2200'), attr(3, u32(1)), attr(4, u32(0)), attr(5, u32(6)));
  return parseNlMsgs(nlmsg(0x10, 0, 1, payload))[0]!;
}

/** A transport that answers each request with the next canned list of messages. */
function replaying(answers: NlMsg[][]): GenlTransport {
  return {
    netns: 'replay',
    request: async () => answers.shift() ?? [],
    close: () => {},
  };
}
