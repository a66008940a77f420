// src/kernel/addresses.ts and routes.ts against the real kernel, each result checked with
// `ip -j addr` / `ip -j route` as well as with our own list().
import t from 'tap';
import { ipJson, scratchRtnl } from '../lib/kernel.js';

interface IpAddrJson {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number }[];
}

interface IpRouteJson {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  metric?: number;
}

/** 'inet 10.0.1.1/24' style lines for dev, per iproute2 (IPv6 link-local left out). */
function ipAddrs(netns: string, dev: string): string[] {
  const [link] = ipJson<IpAddrJson[]>(netns, ['addr', 'show', 'dev', dev]);
  return (link?.addr_info ?? []).filter((a) => !a.local.startsWith('fe80:')).map((a) => `${a.family} ${a.local}/${a.prefixlen}`).sort();
}

t.test('IPv4 and IPv6 addresses are added, listed and deleted', async (t) => {
  const { name, rtnl } = scratchRtnl(t, 'ad');
  await rtnl.links.addBridge('br0');
  await rtnl.links.addVeth('v0', { name: 'v1' });

  await rtnl.addresses.add('br0', '10.0.1.1/24');
  await rtnl.addresses.add('br0', '10.0.2.1/16');
  await rtnl.addresses.add('br0', 'fd00:1::1/64');
  await rtnl.addresses.add('v0', '192.168.99.1/30');
  t.same(ipAddrs(name, 'br0'), ['inet 10.0.1.1/24', 'inet 10.0.2.1/16', 'inet6 fd00:1::1/64'], 'iproute2 sees the addresses on br0');
  t.same(ipAddrs(name, 'v0'), ['inet 192.168.99.1/30'], 'and the one on v0');

  const ours = await rtnl.addresses.list('br0');
  t.same(ours.map((a) => a.cidr).filter((c) => !c.startsWith('fe80:')).sort(), ['10.0.1.1/24', '10.0.2.1/16', 'fd00:1::1/64'], 'list(dev) agrees');
  t.match(ours.find((a) => a.cidr === '10.0.1.1/24'), { dev: 'br0', family: 4, address: '10.0.1.1', prefixLen: 24 });
  t.match(ours.find((a) => a.family === 6 && a.address === 'fd00:1::1'), { dev: 'br0', prefixLen: 64 });
  t.same((await rtnl.addresses.list()).map((a) => a.cidr).filter((c) => c.includes('.')).sort(), ['10.0.1.1/24', '10.0.2.1/16', '127.0.0.1/8', '192.168.99.1/30'], 'list() covers every link (lo too)');

  await t.rejects(rtnl.addresses.add('br0', '10.0.1.1/24'), { code: 'EEXIST', op: `add address 10.0.1.1/24 on br0 in ${name}` }, 'twice is EEXIST');
  await t.rejects(rtnl.addresses.add('br0', '10.0.1.300/24'), { code: 'EINVAL' }, 'a bad address is EINVAL');
  await t.rejects(rtnl.addresses.add('br0', '10.0.1.3/33'), { code: 'EINVAL' }, 'a bad prefix is EINVAL');
  await t.rejects(rtnl.addresses.add('nope0', '10.0.1.3/24'), { code: 'ENODEV' }, 'unknown link is ENODEV');

  await rtnl.addresses.delete('br0', '10.0.2.1/16');
  await rtnl.addresses.delete('br0', 'fd00:1::1/64');
  t.same(ipAddrs(name, 'br0'), ['inet 10.0.1.1/24'], 'only the one left per iproute2');
  await t.rejects(rtnl.addresses.delete('br0', '10.0.2.1/16'), { code: 'EADDRNOTAVAIL' }, 'deleting a missing address');
});

t.test('routes: via a gateway, on a link, default, in another table', async (t) => {
  const { name, rtnl } = scratchRtnl(t, 'rt');
  await rtnl.links.addVeth('v0', { name: 'v1' });
  await rtnl.links.setUp('v1');
  await rtnl.links.setUp('v0');
  await rtnl.addresses.add('v0', '10.0.42.1/24');

  await rtnl.routes.add({ dst: '10.99.0.0/16', via: '10.0.42.5' });
  await rtnl.routes.add({ dst: '10.98.0.0/24', dev: 'v0' });
  await rtnl.routes.add({ dst: 'default', via: '10.0.42.254', dev: 'v0' });
  await rtnl.routes.add({ dst: '10.97.0.0/16', via: '10.0.42.6', table: 100, metric: 20 });

  const main = ipJson<IpRouteJson[]>(name, ['route', 'show']);
  t.match(main.find((r) => r.dst === '10.99.0.0/16'), { gateway: '10.0.42.5', dev: 'v0', protocol: 'static' }, 'gateway route per iproute2');
  t.match(main.find((r) => r.dst === '10.98.0.0/24'), { dev: 'v0', scope: 'link' }, 'on-link route per iproute2');
  t.notOk(main.find((r) => r.dst === '10.98.0.0/24')?.gateway, 'on-link route has no gateway');
  t.match(main.find((r) => r.dst === 'default'), { gateway: '10.0.42.254', dev: 'v0' }, 'default route per iproute2');
  t.notOk(main.find((r) => r.dst === '10.97.0.0/16'), 'table 100 route not in main');
  t.same(ipJson<IpRouteJson[]>(name, ['route', 'show', 'table', '100']).map((r) => [r.dst, r.gateway, r.dev, r.metric]), [['10.97.0.0/16', '10.0.42.6', 'v0', 20]], 'table 100 per iproute2');

  const ours = await rtnl.routes.list({ family: 4 });
  t.same(
    ours.map((r) => [r.dst, r.via, r.dev]).sort(),
    [['10.0.42.0/24', undefined, 'v0'], ['10.98.0.0/24', undefined, 'v0'], ['10.99.0.0/16', '10.0.42.5', 'v0'], ['default', '10.0.42.254', 'v0']],
    'list() of main agrees',
  );
  t.match(ours.find((r) => r.dst === '10.98.0.0/24'), { scope: 'link', protocol: 'static', table: 254, type: 'unicast' });
  t.match(ours.find((r) => r.dst === '10.0.42.0/24'), { protocol: 'kernel', prefsrc: '10.0.42.1' });
  t.same((await rtnl.routes.list({ table: 100 })).map((r) => [r.dst, r.via, r.metric]), [['10.97.0.0/16', '10.0.42.6', 20]], 'list(table 100) agrees');

  await t.rejects(rtnl.routes.add({ dst: '10.99.0.0/16', via: '10.0.42.5' }), { code: 'EEXIST' }, 'the same route twice is EEXIST');
  await t.rejects(rtnl.routes.add({ dst: '10.96.0.0/16', via: 'fd00::1' }), { code: 'EINVAL', message: /not an IPv4 address/ }, 'mixed families is EINVAL');
  await t.rejects(rtnl.routes.add({ dst: '10.96.0.0/16', via: '10.77.0.1' }), { code: 'ENETUNREACH' }, 'an unreachable gateway');

  await rtnl.routes.replace({ dst: 'default', via: '10.0.42.253' });
  t.same(ipJson<IpRouteJson[]>(name, ['route', 'show', 'default']).map((r) => r.gateway), ['10.0.42.253'], 'replace() swapped the default gateway');

  await rtnl.routes.delete({ dst: '10.99.0.0/16' });
  await rtnl.routes.delete({ dst: 'default' });
  await rtnl.routes.delete({ dst: '10.97.0.0/16', table: 100 });
  const left = ipJson<IpRouteJson[]>(name, ['route', 'show']).map((r) => r.dst).sort();
  t.same(left, ['10.0.42.0/24', '10.98.0.0/24'], 'deleted routes are gone per iproute2');
  t.same(ipJson(name, ['route', 'show', 'table', '100']), [], 'table 100 empty');
  await t.rejects(rtnl.routes.delete({ dst: '10.99.0.0/16' }), { code: 'ESRCH', op: `delete route 10.99.0.0/16 in ${name}` }, 'deleting a missing route');
});

t.test('IPv6 routes', async (t) => {
  const { name, rtnl } = scratchRtnl(t, 'r6');
  await rtnl.links.addVeth('v0', { name: 'v1' });
  await rtnl.links.setUp('v1');
  await rtnl.links.setUp('v0');
  await rtnl.routes.add({ dst: 'fd00:99::/64', dev: 'v0' });
  await rtnl.routes.add({ dst: 'default', family: 6, dev: 'v0' });
  const theirs = ipJson<IpRouteJson[]>(name, ['-6', 'route', 'show']);
  t.ok(theirs.find((r) => r.dst === 'fd00:99::/64' && r.dev === 'v0'), 'prefix route per iproute2');
  t.ok(theirs.find((r) => r.dst === 'default' && r.dev === 'v0'), 'default route per iproute2');
  const ours = await rtnl.routes.list({ family: 6 });
  t.ok(ours.find((r) => r.dst === 'fd00:99::/64' && r.dev === 'v0' && r.family === 6), 'list() sees the prefix route');
  t.ok(ours.find((r) => r.dst === 'default' && r.family === 6), 'list() sees the default route');
  await rtnl.routes.delete({ dst: 'fd00:99::/64', dev: 'v0' });
  t.notOk(ipJson<IpRouteJson[]>(name, ['-6', 'route', 'show']).find((r) => r.dst === 'fd00:99::/64'), 'deleted');
});
