// IPAM arithmetic: CIDRs, subnets from the pool in order (skipping taken ones, reusing freed ones),
// and serial address allocation that reuses a released address last.
import t from 'tap';
import { AddressAllocator, defaultGateway, formatCidr, IpamError, nextSubnet, overlaps, parseCidr } from '../../src/controllers/ipam.js';

t.test('CIDRs', async (t) => {
  t.same(parseCidr('10.0.9.0/24'), { base: 0x0a000900, prefix: 24, size: 256 });
  t.throws(() => parseCidr('10.0.9.5/24'), /did you mean 10\.0\.9\.0\/24/);
  t.throws(() => parseCidr('10.0.9.0'), IpamError);
  t.throws(() => parseCidr('10.0.300.0/24'), /not an IPv4 address/);
  t.ok(overlaps(parseCidr('10.0.0.0/16'), parseCidr('10.0.9.0/24')));
  t.notOk(overlaps(parseCidr('10.0.8.0/24'), parseCidr('10.0.9.0/24')));
  t.equal(defaultGateway(parseCidr('10.0.9.0/24')), '10.0.9.1');
});

t.test('subnets come from the pool in order, skipping taken ones', async (t) => {
  const pool = ['10.0.0.0/8'];
  t.equal(formatCidr(nextSubnet(pool, 24, [])), '10.0.0.0/24', 'ingress gets the first /24');
  const taken = [parseCidr('10.0.0.0/24'), parseCidr('10.0.1.0/24'), parseCidr('10.0.3.0/24')];
  t.equal(formatCidr(nextSubnet(pool, 24, taken)), '10.0.2.0/24', 'a freed subnet is handed out again');
  t.equal(formatCidr(nextSubnet(pool, 24, [parseCidr('10.0.0.0/22')])), '10.0.4.0/24', 'a user subnet wider than the mask is skipped as a whole');
  t.equal(formatCidr(nextSubnet(['10.10.0.0/16', '10.20.0.0/16'], 28, [parseCidr('10.10.0.0/16')])), '10.20.0.0/28', 'the next pool when one is full');
  t.throws(() => nextSubnet(['192.168.0.0/30'], 30, [parseCidr('192.168.0.0/30')]), /no free \/30 subnet left/);
});

t.test('addresses are handed out serially and reused last', async (t) => {
  const a = new AddressAllocator(parseCidr('10.0.9.0/29'), ['10.0.9.1']);
  t.same([a.allocate(), a.allocate(), a.allocate()], ['10.0.9.2', '10.0.9.3', '10.0.9.4']);
  // .3 is released: rebuilt from what is still in use, with the cursor carried over
  const b = new AddressAllocator(parseCidr('10.0.9.0/29'), ['10.0.9.1', '10.0.9.2', '10.0.9.4'], a.position);
  t.same([b.allocate(), b.allocate(), b.allocate()], ['10.0.9.5', '10.0.9.6', '10.0.9.3'], 'the released .3 comes back only after wrapping');
  t.throws(() => b.allocate(), /no free address left in 10\.0\.9\.0\/29/);
  const c = new AddressAllocator(parseCidr('10.0.9.0/24'), ['10.0.9.1', '10.0.9.200']);
  t.equal(c.allocate(), '10.0.9.201', 'without a cursor, after the highest address in use');
  t.equal(c.free, 251);
});
