// src/kernel/neighbours.ts and fdb.ts against the real kernel, each result checked with
// `ip -j neigh` / `bridge -j fdb` as well as with our own list().
import t from 'tap';
import { FLOOD_MAC } from '../../src/kernel/rtnl.js';
import { bridgeJson, ipJson, scratchRtnl, sh } from '../lib/kernel.js';

interface IpNeighJson {
  dst: string;
  lladdr?: string;
  state: string[];
}

interface BridgeFdbJson {
  mac: string;
  dst?: string;
  master?: string;
  flags: string[];
  state: string;
}

/** The plain-text `bridge fdb show` line for mac (the JSON form leaves out port and vni). */
function fdbText(netns: string, mac: string): string {
  return sh('bridge', ['-n', netns, 'fdb', 'show']).split('\n').find((l) => l.startsWith(mac)) ?? '';
}

function neighs(netns: string, dev: string): IpNeighJson[] {
  return ipJson<IpNeighJson[]>(netns, ['neigh', 'show', 'dev', dev]);
}

/** `bridge fdb show dev X` as 'mac dst flags state' lines, leaving out the entries the kernel made itself. */
function fdbLines(netns: string, dev: string): string[] {
  return bridgeJson<BridgeFdbJson[]>(netns, ['fdb', 'show', 'dev', dev])
    .filter((e) => !e.mac.startsWith('33:33:') && !e.mac.startsWith('01:00:5e:') && e.master === undefined)
    .map((e) => `${e.mac} dst ${e.dst ?? '-'} ${e.flags.join(',')} ${e.state}`)
    .sort();
}

t.test('permanent neighbour entries are added, replaced, listed and deleted', async (t) => {
  const { name, rtnl } = scratchRtnl(t, 'ne');
  await rtnl.links.addVxlan('vxlan0', { vni: 4097, proxy: true });

  await rtnl.neighbours.add('vxlan0', '10.0.1.12', '02:42:0a:00:01:0c');
  await rtnl.neighbours.add('vxlan0', '10.0.1.13', '02:42:0a:00:01:0d');
  await rtnl.neighbours.add('vxlan0', 'fd00:1::12', '02:42:0a:00:01:0c');
  t.same(
    neighs(name, 'vxlan0').filter((n) => n.state.includes('PERMANENT')).map((n) => `${n.dst} ${n.lladdr}`).sort(),
    ['10.0.1.12 02:42:0a:00:01:0c', '10.0.1.13 02:42:0a:00:01:0d', 'fd00:1::12 02:42:0a:00:01:0c'],
    'iproute2 sees three PERMANENT entries with the right MACs',
  );
  const ours = (await rtnl.neighbours.list('vxlan0')).filter((n) => n.state === 'permanent');
  t.same(ours.map((n) => `${n.ip} ${n.mac} ${n.dev} ${n.family}`).sort(), [
    '10.0.1.12 02:42:0a:00:01:0c vxlan0 4',
    '10.0.1.13 02:42:0a:00:01:0d vxlan0 4',
    'fd00:1::12 02:42:0a:00:01:0c vxlan0 6',
  ], 'list(dev) agrees');

  await t.rejects(rtnl.neighbours.add('vxlan0', '10.0.1.12', '02:42:0a:00:01:0e'), { code: 'EEXIST', op: `add neighbour 10.0.1.12 lladdr 02:42:0a:00:01:0e on vxlan0 in ${name}` }, 'add over an existing entry is EEXIST');
  await rtnl.neighbours.replace('vxlan0', '10.0.1.12', '02:42:0a:00:01:0e');
  t.equal(neighs(name, 'vxlan0').find((n) => n.dst === '10.0.1.12')?.lladdr, '02:42:0a:00:01:0e', 'replace() changed the MAC');
  await rtnl.neighbours.replace('vxlan0', '10.0.1.14', '02:42:0a:00:01:0f');
  t.ok(neighs(name, 'vxlan0').find((n) => n.dst === '10.0.1.14'), 'replace() creates a missing entry');

  await rtnl.neighbours.delete('vxlan0', '10.0.1.13');
  await rtnl.neighbours.delete('vxlan0', 'fd00:1::12');
  t.same(neighs(name, 'vxlan0').filter((n) => n.state.includes('PERMANENT')).map((n) => n.dst).sort(), ['10.0.1.12', '10.0.1.14'], 'deleted entries gone');
  await t.rejects(rtnl.neighbours.delete('vxlan0', '10.0.1.13'), { code: 'ENOENT' }, 'deleting a missing entry is ENOENT');
  await t.rejects(rtnl.neighbours.add('vxlan0', '10.0.1.99', 'zz:42'), { code: 'EINVAL' }, 'a bad MAC is EINVAL');
  await t.rejects(rtnl.neighbours.add('vxlan0', 'ten', '02:42:0a:00:01:0c'), { code: 'EINVAL' }, 'a bad IP is EINVAL');
  await t.rejects(rtnl.neighbours.add('vx-none', '10.0.1.99', '02:42:0a:00:01:0c'), { code: 'ENODEV' }, 'an unknown link is ENODEV');
});

t.test('VXLAN FDB: per-MAC entries and all-zero flood entries, one per remote', async (t) => {
  const { name, rtnl } = scratchRtnl(t, 'fd');
  await rtnl.links.addVxlan('vxlan0', { vni: 4097, local: '192.168.56.101' });

  await rtnl.fdb.add('vxlan0', { mac: '02:42:0a:00:01:0c', dst: '192.168.56.102' });
  await rtnl.fdb.append('vxlan0', { mac: FLOOD_MAC, dst: '192.168.56.102' });
  await rtnl.fdb.append('vxlan0', { mac: FLOOD_MAC, dst: '192.168.56.103' });
  t.same(fdbLines(name, 'vxlan0'), [
    '00:00:00:00:00:00 dst 192.168.56.102 self permanent',
    '00:00:00:00:00:00 dst 192.168.56.103 self permanent',
    '02:42:0a:00:01:0c dst 192.168.56.102 self permanent',
  ], 'bridge fdb shows the entry and both flood entries, self and permanent');

  const ours = (await rtnl.fdb.list('vxlan0')).filter((e) => e.dst !== undefined);
  t.same(ours.map((e) => `${e.mac} ${e.dst} ${e.dev} self=${e.self} master=${e.master} permanent=${e.permanent}`).sort(), [
    '00:00:00:00:00:00 192.168.56.102 vxlan0 self=true master=false permanent=true',
    '00:00:00:00:00:00 192.168.56.103 vxlan0 self=true master=false permanent=true',
    '02:42:0a:00:01:0c 192.168.56.102 vxlan0 self=true master=false permanent=true',
  ], 'list(dev) agrees');

  await rtnl.fdb.delete('vxlan0', { mac: FLOOD_MAC, dst: '192.168.56.102' });
  t.same(fdbLines(name, 'vxlan0'), [
    '00:00:00:00:00:00 dst 192.168.56.103 self permanent',
    '02:42:0a:00:01:0c dst 192.168.56.102 self permanent',
  ], 'deleting one flood entry by dst leaves the other');

  await t.rejects(
    rtnl.fdb.add('vxlan0', { mac: '02:42:0a:00:01:0c', dst: '192.168.56.103' }),
    { code: 'EEXIST', op: `add fdb 02:42:0a:00:01:0c dst 192.168.56.103 on vxlan0 in ${name}` },
    'add for a MAC that has an entry is EEXIST',
  );
  await rtnl.fdb.replace('vxlan0', { mac: '02:42:0a:00:01:0c', dst: '192.168.56.103' });
  t.same(fdbLines(name, 'vxlan0'), [
    '00:00:00:00:00:00 dst 192.168.56.103 self permanent',
    '02:42:0a:00:01:0c dst 192.168.56.103 self permanent',
  ], 'replace() moved the MAC to the other remote');

  await rtnl.fdb.add('vxlan0', { mac: '02:42:0a:00:01:0d', dst: '192.168.56.104', vni: 5000, port: 4790 });
  const special = (await rtnl.fdb.list('vxlan0')).find((e) => e.mac === '02:42:0a:00:01:0d');
  t.match(special, { dst: '192.168.56.104', vni: 5000, port: 4790 }, 'per-entry VNI and port read back');
  t.match(fdbText(name, '02:42:0a:00:01:0d'), /dst 192\.168\.56\.104 port 4790 vni 5000 self permanent/, 'and bridge(8) agrees');

  await rtnl.fdb.delete('vxlan0', { mac: FLOOD_MAC, dst: '192.168.56.103' });
  await rtnl.fdb.delete('vxlan0', { mac: '02:42:0a:00:01:0c', dst: '192.168.56.103' });
  await rtnl.fdb.delete('vxlan0', { mac: '02:42:0a:00:01:0d' });
  t.same(fdbLines(name, 'vxlan0'), [], 'all gone');
  await t.rejects(rtnl.fdb.delete('vxlan0', { mac: FLOOD_MAC, dst: '192.168.56.103' }), { code: 'ENOENT' }, 'deleting a missing entry is ENOENT');
  await t.rejects(rtnl.fdb.add('vx-none', { mac: FLOOD_MAC }), { code: 'ENODEV', message: /no link named 'vx-none'/ }, 'unknown link is ENODEV');
});

t.test("bridge FDB: 'master' entries go to the bridge the port is attached to", async (t) => {
  const { name, rtnl } = scratchRtnl(t, 'fm');
  await rtnl.links.addBridge('br0');
  await rtnl.links.addVeth('p0', { name: 'p1' });
  await rtnl.links.setMaster('p0', 'br0');

  await rtnl.fdb.add('p0', { mac: '02:00:00:00:00:09', master: true });
  const theirs = bridgeJson<BridgeFdbJson[]>(name, ['fdb', 'show', 'dev', 'p0']).find((e) => e.mac === '02:00:00:00:00:09');
  t.match(theirs, { master: 'br0', state: 'permanent' }, 'bridge fdb shows it in br0, permanent');
  t.notOk(theirs?.flags.includes('self'), 'not in the port\'s own table');
  const ours = (await rtnl.fdb.list('p0')).find((e) => e.mac === '02:00:00:00:00:09');
  t.match(ours, { dev: 'p0', bridge: 'br0', permanent: true, self: false }, 'list() agrees');

  await rtnl.fdb.delete('p0', { mac: '02:00:00:00:00:09', master: true });
  t.notOk(bridgeJson<BridgeFdbJson[]>(name, ['fdb', 'show', 'dev', 'p0']).find((e) => e.mac === '02:00:00:00:00:09'), 'deleted');
});
