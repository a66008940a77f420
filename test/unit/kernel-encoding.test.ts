// src/kernel/encoding.ts: MAC, IP, CIDR and port encodings, round trips and refusals.
import t from 'tap';
import { decodeIp, decodeMac, decodePort, encodeIp, encodeMac, encodePort, familyOfAf, isValidLinkName, parseCidr, validateLinkName } from '../../src/kernel/encoding.js';

t.test('MAC addresses', async (t) => {
  t.same([...encodeMac('02:42:0a:00:01:0c')], [0x02, 0x42, 0x0a, 0x00, 0x01, 0x0c]);
  t.same([...encodeMac('AA:bb:CC:dd:EE:ff')], [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff], 'either case');
  t.equal(decodeMac(Buffer.from([0xaa, 0xbb, 0x0c, 0, 1, 0x0f])), 'aa:bb:0c:00:01:0f', 'lower case, two digits each, as iproute2 prints');
  t.equal(decodeMac(encodeMac('00:00:00:00:00:00')), '00:00:00:00:00:00');
  for (const bad of ['02:42:0a:00:01', '02:42:0a:00:01:0c:00', '2:42:0a:00:01:0c', '02-42-0a-00-01-0c', 'zz:42:0a:00:01:0c', '']) {
    t.throws(() => encodeMac(bad), { code: 'EINVAL', name: 'KernelError' }, `refuses '${bad}'`);
  }
});

t.test('IPv4 addresses', async (t) => {
  t.same([...encodeIp('192.168.56.101')], [192, 168, 56, 101]);
  t.equal(decodeIp(Buffer.from([10, 0, 1, 12])), '10.0.1.12');
  t.equal(decodeIp(encodeIp('0.0.0.0')), '0.0.0.0');
  for (const bad of ['10.0.1', '10.0.1.256', '10.0.1.1/24', 'host', '']) {
    t.throws(() => encodeIp(bad), { code: 'EINVAL' }, `refuses '${bad}'`);
  }
});

t.test('IPv6 addresses encode to 16 bytes and decode to the RFC 5952 form', async (t) => {
  const cases: [string, string][] = [
    ['fd00:1::1', 'fd00:1::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::2cbd:d4ff:fec1:de7e', 'fe80::2cbd:d4ff:fec1:de7e'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // the first of two equal zero runs
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not shortened
    ['FD00::ABCD', 'fd00::abcd'],
    ['::ffff:10.0.1.2', '::ffff:10.0.1.2'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
  ];
  for (const [input, canonical] of cases) {
    const bytes = encodeIp(input);
    t.equal(bytes.length, 16, `${input} is 16 bytes`);
    t.equal(decodeIp(bytes), canonical, `${input} -> ${canonical}`);
  }
  t.same([...encodeIp('::ffff:10.0.1.2')], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 1, 2], 'embedded IPv4');
  t.same([...encodeIp('2001:db8::1')].slice(0, 4), [0x20, 0x01, 0x0d, 0xb8]);
  t.throws(() => encodeIp('fd00::1::2'), { code: 'EINVAL' });
  t.throws(() => encodeIp('fe80::1%eth0'), { code: 'EINVAL' }, 'a zone index has no place in a netlink address');
  t.throws(() => decodeIp(Buffer.alloc(5)), { code: 'EINVAL' }, 'a 5-byte address');
});

t.test('CIDR prefixes', async (t) => {
  t.same(parseCidr('10.0.1.1/24'), { family: 4, address: '10.0.1.1', prefixLen: 24 });
  t.same(parseCidr('10.0.1.1'), { family: 4, address: '10.0.1.1', prefixLen: 32 }, 'a bare address is a host prefix');
  t.same(parseCidr('fd00::/64'), { family: 6, address: 'fd00::', prefixLen: 64 });
  t.same(parseCidr('0.0.0.0/0'), { family: 4, address: '0.0.0.0', prefixLen: 0 });
  for (const bad of ['10.0.1.1/33', 'fd00::/129', '10.0.1.1/', '10.0.1.1/-1', '10.0.1.1/2.5', '10.0.1.1/24/1', 'default', '/24']) {
    t.throws(() => parseCidr(bad), { code: 'EINVAL' }, `refuses '${bad}'`);
  }
});

t.test('ports are big-endian u16', async (t) => {
  t.same([...encodePort(4789)], [0x12, 0xb5]);
  t.equal(decodePort(Buffer.from([0x12, 0xb5])), 4789);
  t.throws(() => encodePort(65536), { code: 'EINVAL' });
  t.throws(() => encodePort(-1), { code: 'EINVAL' });
});

t.test('address families', async (t) => {
  t.equal(familyOfAf(2), 4);
  t.equal(familyOfAf(10), 6);
  t.equal(familyOfAf(7), undefined, 'AF_BRIDGE is not an IP family');
});

t.test('link names', async (t) => {
  for (const ok of ['eth0', 'vxlan0', 'veth-t1', 'vx-4097', 'a', '123456789012345', 'br.10', 'x_y']) t.ok(isValidLinkName(ok), `'${ok}' is fine`);
  for (const bad of ['', '1234567890123456', 'a/b', 'a:b', 'a b', 'tab\t', '.', '..', 'ééééééééé']) t.notOk(isValidLinkName(bad), `'${bad}' is not`);
  t.throws(() => validateLinkName('this-name-is-too-long'), { code: 'EINVAL', message: /1-15 characters/ });
});
