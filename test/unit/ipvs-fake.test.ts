// src/kernel/ipvs-fake.ts: the IPVS contract against the fake, then what only the fake can show
// (its dump order, injected failures, the wire-level rules the typed layer never sends), and the
// IPVS sysctls.
import t from 'tap';
import { FakeGenlTransport, FakeIpvsKernel, openFakeIpvs } from '../../src/kernel/ipvs-fake.js';
import { Ipvs, IPVS_SYSCTLS, isIpvsUnavailable, setIpvsSysctls } from '../../src/kernel/ipvs.js';
import { KernelError } from '../../src/kernel/errors.js';
import {
  be16Attr, encodeGenl, encodeIpvsRequest, encodeNlMsg, interpretReply, IPVS_CMD, IPVS_CMD_ATTR, IPVS_GENL_VERSION, nestAttr, nlAttr,
  NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, parseNlMsgs, u16Attr, u32Attr,
} from '../../src/kernel/ipvs-wire.js';
import { ipvsContract } from '../lib/ipvs-contract.js';

t.test('the contract, against the fake', async (t) => {
  ipvsContract(t, async (t) => {
    const ipvs = await openFakeIpvs();
    t.teardown(() => ipvs.close());
    return ipvs;
  });
});

t.test("services dump in the kernel's order: address table, then fwmark table, by hash bucket, newest first in a bucket", async (t) => {
  const ipvs = await openFakeIpvs();
  t.teardown(() => ipvs.close());
  // fwmark buckets are fwmark & 0xff: 0x105 -> 5, 0x205 -> 5, 3 -> 3.
  for (const fwmark of [0x105, 3, 0x205]) await ipvs.addService({ fwmark });
  // address buckets: (proto ^ addr ^ port>>8 ^ port) & 0xff: 10.0.0.1 tcp :80 -> 6^1^0^80 = 0x57; 10.0.0.2 tcp :80 -> 0x54.
  await ipvs.addService({ protocol: 'tcp', address: '10.0.0.1', port: 80 });
  await ipvs.addService({ protocol: 'tcp', address: '10.0.0.2', port: 80 });
  const order = (await ipvs.listServices()).map((s) => ('fwmark' in s ? `fw${s.fwmark.toString(16)}` : s.address));
  t.same(order, ['10.0.0.2', '10.0.0.1', 'fw3', 'fw205', 'fw105']);
});

t.test('a big dump is split over datagrams and still read whole', async (t) => {
  const kernel = new FakeIpvsKernel({ dumpDatagramBytes: 1024 });
  const transport = new FakeGenlTransport(kernel);
  const ipvs = await Ipvs.over(transport);
  for (let i = 1; i <= 50; i++) await ipvs.addService({ fwmark: i });
  for (let i = 1; i <= 40; i++) await ipvs.addDestination({ fwmark: 1 }, { address: `10.0.${i}.1`, port: 0 });
  const datagrams = kernel.handle(transport.sent[transport.sent.length - 1]!); // re-send the last NEW_DEST: EEXIST, one datagram
  t.equal(datagrams.length, 1);
  t.equal((await ipvs.listServices()).length, 50, 'every service');
  t.equal((await ipvs.listDestinations({ fwmark: 1 })).length, 40, 'every destination');
  const dump = kernel.handle(encodeNlMsg({ type: kernel.familyId, flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, seq: 99, port: 1, payload: encodeIpvsRequest(IPVS_CMD.GET_SERVICE) }));
  t.ok(dump.length > 5, `${dump.length} datagrams of at most 1024 bytes`);
  t.ok(dump.every((d) => d.length <= 1024));
});

t.test('rules the typed layer never breaks, checked on the wire', async (t) => {
  const kernel = new FakeIpvsKernel();
  const send = (cmd: number, attrs: Buffer[], dump = false): number => {
    const bytes = encodeNlMsg({ type: kernel.familyId, flags: NLM_F_REQUEST | NLM_F_ACK | (dump ? NLM_F_DUMP : 0), seq: 1, port: 1, payload: encodeGenl(cmd, IPVS_GENL_VERSION, attrs) });
    const r = interpretReply(kernel.handle(bytes).flatMap((d) => parseNlMsgs(d)), kernel.familyId);
    return r.ok ? 0 : r.errno;
  };
  const af = u16Attr(1, 2);
  const fw = u32Attr(5, 77);
  t.equal(send(IPVS_CMD.NEW_SERVICE, []), 22, 'no service attribute: EINVAL');
  t.equal(send(IPVS_CMD.NEW_SERVICE, [nestAttr(IPVS_CMD_ATTR.SERVICE, [fw])]), 22, 'no AF: EINVAL');
  t.equal(send(IPVS_CMD.NEW_SERVICE, [nestAttr(IPVS_CMD_ATTR.SERVICE, [af, fw])]), 22, 'a new service without scheduler, flags, timeout, netmask: EINVAL');
  t.equal(send(IPVS_CMD.NEW_SERVICE, [nestAttr(IPVS_CMD_ATTR.SERVICE, [u16Attr(1, 7), fw])]), 97, 'an unknown family: EAFNOSUPPORT');
  const settings = (sched: Buffer): Buffer[] => [af, fw, nlAttr(6, sched), nlAttr(7, Buffer.alloc(8)), u32Attr(8, 0), u32Attr(9, 0xffffffff)];
  t.equal(send(IPVS_CMD.NEW_SERVICE, [nestAttr(IPVS_CMD_ATTR.SERVICE, settings(Buffer.from('rr')))]), 22, 'a scheduler name without its NUL: EINVAL');
  t.equal(send(IPVS_CMD.NEW_SERVICE, [nestAttr(IPVS_CMD_ATTR.SERVICE, settings(Buffer.from('abcdefghijklmnop\0')))]), 22, 'a scheduler name of 16 bytes: EINVAL (IP_VS_SCHEDNAME_MAXLEN - 1)');
  t.equal(send(IPVS_CMD.NEW_SERVICE, [nestAttr(IPVS_CMD_ATTR.SERVICE, settings(Buffer.from('rr\0')))]), 0, 'the same with its NUL: added');
  t.equal(send(IPVS_CMD.NEW_DEST, [nestAttr(IPVS_CMD_ATTR.SERVICE, [af, fw]), nestAttr(IPVS_CMD_ATTR.DEST, [nlAttr(1, Buffer.from([10, 0, 0, 9])), be16Attr(2, 0), u32Attr(3, 0), u32Attr(4, 0xffffffff), u32Attr(5, 0), u32Attr(6, 0)])]), 34, 'weight 0xffffffff is -1 to the kernel: ERANGE');
  t.equal(send(IPVS_CMD.NEW_DEST, [nestAttr(IPVS_CMD_ATTR.SERVICE, [af, fw]), nestAttr(IPVS_CMD_ATTR.DEST, [nlAttr(1, Buffer.from([10, 0, 0, 9])), be16Attr(2, 0), u32Attr(3, 0), u32Attr(4, 1)])]), 22, 'a new destination without thresholds: EINVAL');
  t.equal(send(IPVS_CMD.NEW_DEST, [nestAttr(IPVS_CMD_ATTR.SERVICE, [af, fw]), nestAttr(IPVS_CMD_ATTR.DEST, [nlAttr(1, Buffer.from([10, 0, 0, 9])), be16Attr(2, 0), u32Attr(3, 0), u32Attr(4, 1), u32Attr(5, 0), u32Attr(6, 0)])]), 0, 'a 4-byte address and no ADDR_FAMILY (the service\'s family): added');
  t.equal(send(IPVS_CMD.GET_DEST, [nestAttr(IPVS_CMD_ATTR.SERVICE, [af, fw])]), 95, 'GET_DEST has no doit: EOPNOTSUPP without NLM_F_DUMP');
  t.equal(send(IPVS_CMD.GET_INFO, [], true), 95, 'GET_INFO has no dumpit: EOPNOTSUPP with NLM_F_DUMP');
  t.equal(send(99, []), 95, 'an unknown command: EOPNOTSUPP');
  t.equal(send(IPVS_CMD.FLUSH, []), 0, 'FLUSH needs nothing');
  const unknownFamily = encodeNlMsg({ type: 0x77, flags: NLM_F_REQUEST | NLM_F_ACK, seq: 1, port: 1, payload: encodeGenl(1, 1) });
  t.same(interpretReply(kernel.handle(unknownFamily).flatMap((d) => parseNlMsgs(d)), 0x77), { ok: false, errno: 2 }, 'a family id nobody has: ENOENT');
});

t.test("destination addresses: ip_vs_new_dest's unicast check", async (t) => {
  const ipvs = await openFakeIpvs();
  t.teardown(() => ipvs.close());
  await ipvs.addService({ fwmark: 1 });
  await ipvs.addService({ fwmark: 1, family: 6 });
  for (const address of ['0.0.0.0', '0.1.2.3', '224.0.0.1', '239.255.255.255', '255.255.255.255']) {
    await t.rejects(ipvs.addDestination({ fwmark: 1 }, { address, port: 0 }), { code: 'EINVAL' }, `${address}: EINVAL`);
  }
  for (const address of ['::', 'ff02::1', 'fe80::1']) {
    await t.rejects(ipvs.addDestination({ fwmark: 1, family: 6 }, { address, port: 0 }), { code: 'EINVAL' }, `${address}: EINVAL`);
  }
  for (const address of ['10.0.0.1', '127.0.0.1', '240.0.0.1', '223.255.255.254']) await ipvs.addDestination({ fwmark: 1 }, { address, port: 0 });
  for (const address of ['fd00::1', '2001:db8::1', 'fec0::1']) await ipvs.addDestination({ fwmark: 1, family: 6 }, { address, port: 0 });
  t.equal((await ipvs.listDestinations({ fwmark: 1 })).length, 4, 'unicast and local IPv4 (240/4 is not special to inet_addr_type)');
  t.equal((await ipvs.listDestinations({ fwmark: 1, family: 6 })).length, 3, 'unicast IPv6');
});

t.test('the kernel calls a change costs, and injected failures', async (t) => {
  const kernel = new FakeIpvsKernel();
  const ipvs = await openFakeIpvs(kernel);
  await ipvs.addService({ fwmark: 1 });
  await ipvs.addDestination({ fwmark: 1 }, { address: '10.0.0.5', port: 0 });
  t.same(kernel.calls, [{ cmd: 1, dump: false }, { cmd: 5, dump: false }], 'one request per change (the family lookup is nlctrl, not counted)');
  t.same(kernel.size, { services: 1, destinations: 1 });
  kernel.failNext(5, 12);
  await t.rejects(ipvs.addDestination({ fwmark: 1 }, { address: '10.0.0.6', port: 0 }), { code: 'ENOMEM' }, 'the injected errno comes back');
  await ipvs.addDestination({ fwmark: 1 }, { address: '10.0.0.6', port: 0 });
  t.equal(kernel.size.destinations, 2, 'only once');
  ipvs.close();
  await t.rejects(ipvs.listServices(), { code: 'EBADF' }, 'closed: EBADF');
});

t.test('bad input is an EINVAL naming the field, before anything is sent', async (t) => {
  const kernel = new FakeIpvsKernel();
  const ipvs = await openFakeIpvs(kernel);
  t.teardown(() => ipvs.close());
  const bad: Array<[() => Promise<unknown>, RegExp]> = [
    [() => ipvs.addService({ fwmark: 0 }), /fwmark 0 marks nothing/],
    [() => ipvs.addService({ fwmark: -1 }), /fwmark -1 is not an integer/],
    [() => ipvs.addService({ fwmark: 1, family: 5 as 4 }), /family 5 is neither 4 nor 6/],
    [() => ipvs.addService({ protocol: 'icmp' as 'tcp', address: '10.0.0.1', port: 1 }), /protocol 'icmp' is not tcp, udp or sctp/],
    [() => ipvs.addService({ protocol: 'tcp', address: '10.0.0.256', port: 1 }), /'10\.0\.0\.256' is not an IPv4 or IPv6 address/],
    [() => ipvs.addService({ protocol: 'tcp', address: '10.0.0.1', port: 65536 }), /port 65536 is not a port number/],
    [() => ipvs.addService({ fwmark: 1, scheduler: 'a-scheduler-name-too-long' }), /must be 1-15 bytes/],
    [() => ipvs.addService({ fwmark: 1, timeout: 1.5 }), /timeout 1\.5 is not an integer/],
    [() => ipvs.addDestination({ fwmark: 1 }, { address: 'nowhere', port: 0 }), /'nowhere' is not an IPv4 or IPv6 address/],
    [() => ipvs.addDestination({ fwmark: 1 }, { address: '10.0.0.1', port: 0, weight: 2 ** 31 }), /weight 2147483648 is not a 32-bit integer/],
    [() => ipvs.addDestination({ fwmark: 1 }, { address: '10.0.0.1', port: 0, forward: 'nat' as 'masquerade' }), /forwarding 'nat' is not one of/],
    [() => ipvs.setTimeouts({ tcp: -1 }), /timeout tcp -1 is not an integer/],
  ];
  for (const [fn, said] of bad) await t.rejects(fn(), { code: 'EINVAL', message: said }, said.source);
  t.same(kernel.calls, [], 'nothing reached the kernel');
});

t.test('a kernel without ip_vs: opening says so', async (t) => {
  const err = await openFakeIpvs(new FakeIpvsKernel({ loaded: false }), 'node1').catch((e: unknown) => e);
  t.ok(isIpvsUnavailable(err), 'IpvsUnavailableError');
  t.match(err, { code: 'ENOENT', message: /resolve generic netlink family IPVS in node1: this kernel has no ip_vs/ });
});

t.test("Docker's IPVS sysctls", async (t) => {
  const written: Array<[string, string | number]> = [];
  setIpvsSysctls({ writeSysctl: (k, v) => void written.push([k, v]) });
  t.same(written, [['net.ipv4.vs.conn_reuse_mode', 0], ['net.ipv4.vs.expire_nodest_conn', 1], ['net.ipv4.vs.expire_quiescent_template', 1]]);
  t.ok(IPVS_SYSCTLS.every((s) => s.why.length > 20), 'each says why');
  const missing = () => setIpvsSysctls({ writeSysctl: (k) => { throw new KernelError('ENOENT', `write sysctl ${k} in n1`, 'no such file'); } });
  t.throws(missing, { code: 'ENOENT', message: /conn_reuse_mode does not exist: the ip_vs module is not loaded/ });
  const denied = () => setIpvsSysctls({ writeSysctl: (k) => { throw new KernelError('EACCES', `write sysctl ${k} in n1`, 'permission denied'); } });
  t.throws(denied, { code: 'EACCES' }, 'other errors pass through');
});
