// mDNS discovery's pure parts: the manager's TXT record through the real DNS encoding and back,
// malformed records ignored with a reason and never a throw, which adverts a joiner takes, and the
// refusals that happen before any socket is opened (loopback, an address on no interface).
import { randomBytes } from 'node:crypto';
import dnsPacket from 'dns-packet';
import { pino } from 'pino';
import t from 'tap';
import { advertiseManager, advertTxt, decodeTxt, DiscoveryError, findManager, inSubnet, judgeAdvert, noManagerMessage, parseAdvert, type ManagerAdvert } from '../../src/cluster/discovery.js';
import { newId } from '../../src/cluster/ids.js';
import { caDigest, formatToken, newSecret } from '../../src/cluster/token.js';

const log = pino({ level: 'silent' });
const digest = caDigest(Buffer.from('a CA certificate'));
const advert: ManagerAdvert = { addr: '192.168.56.101', port: 2377, caDigest: digest, nodeId: newId() };

/** The TXT record as it crosses the wire: bonjour-service writes `key=value` strings, dns-packet encodes and decodes them. */
function onTheWire(txt: Record<string, string> | Buffer[]): unknown {
  const data = Array.isArray(txt) ? txt : Object.entries(txt).map(([k, v]) => Buffer.from(`${k}=${v}`));
  const packet = dnsPacket.decode(dnsPacket.encode({ type: 'response', answers: [{ type: 'TXT', name: 'x._shoal-manager._tcp.local', data }] }));
  return (packet.answers![0] as { data: unknown }).data;
}

t.test('an advert survives the DNS encoding and carries no secret', async (t) => {
  const secret = newSecret();
  const txt = advertTxt(advert);
  t.same(Object.keys(txt).sort(), ['addr', 'ca', 'id', 'v'], 'address, CA digest, node ID and the format version; nothing else');
  t.notOk(Object.values(txt).some((v) => v.includes(secret) || v.includes(formatToken(digest, secret))), 'no token, no secret');
  t.same(parseAdvert(onTheWire(txt), 2377), advert);
});

t.test('TXT keys are case-insensitive, the first occurrence wins, junk strings are skipped', async (t) => {
  const m = decodeTxt(onTheWire([Buffer.from('V=1'), Buffer.from('noequals'), Buffer.from('=novalue'), Buffer.from('ca=first'), Buffer.from('CA=second'), Buffer.from('empty='), Buffer.from([0xff, 0xfe, 0x3d, 0x41])]));
  t.equal(m.get('v'), '1');
  t.equal(m.get('ca'), 'first', 'RFC 6763 §6.4: only the first counts');
  t.equal(m.get('empty'), '');
  t.notOk(m.has(''), 'an empty key is skipped');
  t.notOk(m.has('noequals'));
  t.equal(m.size, 4, 'invalid UTF-8 still decodes (to replacement characters), never throws');
  t.same([...decodeTxt(['a=b', 7, null, { k: 'v' }])], [['a', 'b']], 'strings too (as tests and callers pass them); other items skipped');
  for (const raw of [undefined, null, 42, 'v=1', { v: '1' }]) t.same([...decodeTxt(raw)], [], `${JSON.stringify(raw)} is no TXT record`);
});

t.test('malformed adverts are ignored with the reason', async (t) => {
  const base = advertTxt(advert);
  const cases: [string, unknown, unknown, RegExp][] = [
    ['no version', onTheWire(Object.fromEntries(Object.entries(base).filter(([k]) => k !== 'v'))), 2377, /no TXT version/],
    ['a future version', onTheWire({ ...base, v: '2' }), 2377, /TXT version "2", this node reads 1/],
    ['a short CA digest', onTheWire({ ...base, ca: digest.slice(1) }), 2377, /CA digest.*50 base-36/],
    ['an upper-case CA digest', onTheWire({ ...base, ca: digest.toUpperCase() }), 2377, /CA digest/],
    ['a host name', onTheWire({ ...base, addr: 'node1.local' }), 2377, /not an IPv4 address/],
    ['an IPv6 address', onTheWire({ ...base, addr: 'fe80::1' }), 2377, /not an IPv4 address/],
    ['an address with a port', onTheWire({ ...base, addr: '192.168.56.101:2377' }), 2377, /not an IPv4 address/],
    ['a bad node ID', onTheWire({ ...base, id: 'node1' }), 2377, /node ID/],
    ['port 0', onTheWire(base), 0, /SRV port 0/],
    ['port 70000', onTheWire(base), 70000, /SRV port 70000/],
    ['a port as a string', onTheWire(base), '2377', /SRV port 2377/],
    ['no TXT record', undefined, 2377, /no TXT version/],
    ['a TXT record that is a number', 5, 2377, /no TXT version/],
  ];
  for (const [what, raw, port, reason] of cases) {
    const r = parseAdvert(raw, port);
    t.ok('invalid' in r, `${what} is refused`);
    if ('invalid' in r) t.match(r.invalid, reason, what);
  }
});

t.test('random TXT records never throw', async (t) => {
  let valid = 0;
  for (let i = 0; i < 2000; i++) {
    const items = Array.from({ length: randomBytes(1)[0]! % 6 }, () => randomBytes(randomBytes(1)[0]! % 80));
    if (i % 2 === 0) items.push(Buffer.from(`v=1`), Buffer.from(`ca=${randomBytes(2).toString('hex')}`));
    const r = parseAdvert(i % 3 === 0 ? items : onTheWire(items.filter((b) => b.length > 0)), randomBytes(2).readUInt16BE(0));
    if (!('invalid' in r)) valid++;
  }
  t.equal(valid, 0, 'none of 2000 random records parses as an advert, and none throws');
});

t.test('a joiner takes only a manager of its swarm that speaks from the address it advertises, on its own network', async (t) => {
  const want = { caDigest: digest, subnet: { addr: '192.168.56.102', prefixLen: 24 } };
  const wire = { rawTxt: onTheWire(advertTxt(advert)), port: 2377, from: '192.168.56.101' };
  t.same(judgeAdvert(wire, want), { manager: advert });
  const other = caDigest(Buffer.from('another CA'));
  t.match(judgeAdvert({ ...wire, rawTxt: onTheWire(advertTxt({ ...advert, caDigest: other })) }, want), { ignored: /a manager of another swarm \(CA digest [0-9a-z]{12}\.\.\., the token's is [0-9a-z]{12}\.\.\.\)/ });
  t.match(judgeAdvert({ ...wire, from: '192.168.56.200' }, want), { ignored: /advertises 192\.168\.56\.101 but answered from 192\.168\.56\.200/ }, 'an advert for someone else\'s address');
  t.match(judgeAdvert({ ...wire, from: undefined }, want), { ignored: /answered from undefined/ });
  const far = { ...advert, addr: '10.0.2.15' };
  t.match(judgeAdvert({ rawTxt: onTheWire(advertTxt(far)), port: 2377, from: '10.0.2.15' }, want), { ignored: /10\.0\.2\.15 is not on this node's network 192\.168\.56\.102\/24/ }, 'a NAT address is never taken');
  t.match(judgeAdvert({ ...wire, rawTxt: [] }, want), { ignored: /^malformed advert: / });
});

t.test('inSubnet', async (t) => {
  const s24 = { addr: '192.168.56.102', prefixLen: 24 };
  t.ok(inSubnet('192.168.56.1', s24));
  t.ok(inSubnet('192.168.56.255', s24));
  t.notOk(inSubnet('192.168.57.1', s24));
  t.notOk(inSubnet('fe80::1', s24));
  t.notOk(inSubnet('not an address', s24));
  t.ok(inSubnet('192.168.63.1', { addr: '192.168.56.1', prefixLen: 21 }), 'VirtualBox host-only /21');
  t.notOk(inSubnet('192.168.56.3', { addr: '192.168.56.2', prefixLen: 32 }));
  t.ok(inSubnet('8.8.8.8', { addr: '192.168.56.2', prefixLen: 0 }));
});

t.test('refusals that happen before any socket is opened', async (t) => {
  await t.rejects(findManager({ localAddr: '127.0.0.1', caDigest: digest, timeoutMs: 100, log }), { name: 'DiscoveryError', message: /127\.0\.0\.1 is on the loopback interface, where no other node answers/ });
  await t.rejects(findManager({ localAddr: '192.0.2.123', caDigest: digest, timeoutMs: 100, log }), { message: /no interface of this node holds the advertise address 192\.0\.2\.123/ }, 'TEST-NET-1: on no interface here');
  await t.rejects(findManager({ localAddr: 'eth0', caDigest: digest, log }), { message: /'eth0' is not an IPv4 address/ });
  await t.rejects(advertiseManager({ ...advert, addr: '192.0.2.123', log }), DiscoveryError);
  await t.rejects(advertiseManager({ ...advert, caDigest: 'short', log }), { message: /CA digest must be 50 base-36/ });
  await t.rejects(advertiseManager({ ...advert, port: 0, log }), { message: /port 0 is not 1\.\.65535/ });
  const onLo = await advertiseManager({ ...advert, addr: '127.0.0.1', log });
  await onLo.stop();
  t.pass('a manager on loopback advertises nothing (and stop is harmless)');
  t.equal(noManagerMessage(10_000), "no manager of this swarm answered on the local network within 10 s: give the manager's address, `shoal swarm join --token T 192.168.56.101:2377`");
});
