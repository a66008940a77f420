// src/kernel/links.ts against the real kernel: every link we create or change is read back with
// `ip -d -j link` (not only with our own reader), so a wrong attribute cannot pass.
import t from 'tap';
import { Netns } from '../../src/kernel/netns.js';
import { ipLink, ipLinks, scratchNetns, scratchRtnl, spawnInNetns, type IpLinkJson } from '../lib/kernel.js';

/** The VXLAN settings out of `ip -d -j link`; iproute2 leaves 'proxy' out when it is off. */
function vxlanPart(link: IpLinkJson | undefined): Record<string, unknown> {
  const d = link?.linkinfo?.info_data ?? {};
  return { id: d.id, port: d.port, local: d.local, learning: d.learning, proxy: d.proxy ?? false };
}

t.test('a VXLAN device carries exactly the attributes asked for', async (t) => {
  const { name, rtnl } = scratchRtnl(t, 'vx');
  await rtnl.links.addBridge('br0');
  await rtnl.links.addVxlan('vxlan0', { vni: 4097, port: 4789, local: '192.168.56.101', learning: false, proxy: true, mtu: 1450 });
  await rtnl.links.setMaster('vxlan0', 'br0');
  await rtnl.links.setUp('vxlan0');

  const ip = ipLink(name, 'vxlan0');
  t.equal(ip?.linkinfo?.info_kind, 'vxlan', 'kind');
  t.same(vxlanPart(ip), { id: 4097, port: 4789, local: '192.168.56.101', learning: false, proxy: true }, 'vni, port, local, nolearning, proxy per iproute2');
  t.equal(ip?.mtu, 1450, 'mtu per iproute2');
  t.equal(ip?.master, 'br0', 'master per iproute2');
  t.ok(ip?.flags.includes('UP'), 'up per iproute2');

  const ours = await rtnl.links.get('vxlan0');
  t.match(ours, { name: 'vxlan0', index: ip?.ifindex, kind: 'vxlan', mtu: 1450, mac: ip?.address, up: true, master: 'br0' }, 'our reader agrees');
  t.same(ours.vxlan, { vni: 4097, port: 4789, local: '192.168.56.101', learning: false, proxy: true }, 'our vxlan attrs agree');

  // The opposite booleans, another port and no local address, so an inverted or ignored option shows.
  await rtnl.links.addVxlan('vxlan1', { vni: 7, port: 8472, learning: true, proxy: false });
  const ip1 = ipLink(name, 'vxlan1');
  t.same(vxlanPart(ip1), { id: 7, port: 8472, local: undefined, learning: true, proxy: false }, 'learning on, proxy off, port 8472, no local per iproute2');
  t.same((await rtnl.links.get('vxlan1')).vxlan, { vni: 7, port: 8472, local: undefined, learning: true, proxy: false });
  t.equal(ip1?.master, undefined, 'not attached anywhere');
  t.notOk(ip1?.flags.includes('UP'), 'created down');
});

t.test('a veth pair can be created with its peer directly in another namespace', async (t) => {
  const { name: a, rtnl } = scratchRtnl(t, 'va');
  const { name: b, ns: nsB } = scratchNetns(t, 'vb');
  const { name: c } = scratchNetns(t, 'vc');

  // Peer by namespace handle (IFLA_NET_NS_FD of an open fd).
  await rtnl.links.addVeth('veth-t1', { name: 'eth0', netns: nsB, mtu: 1450, mac: '02:42:0a:00:01:0b' }, { mtu: 1450 });
  t.equal(ipLink(a, 'veth-t1')?.mtu, 1450, 'local end in the socket namespace, mtu 1450');
  t.equal(ipLink(a, 'eth0'), undefined, 'peer not in the socket namespace');
  const peer = ipLink(b, 'eth0');
  t.equal(peer?.linkinfo?.info_kind, 'veth', 'peer is a veth in the other namespace');
  t.equal(peer?.address, '02:42:0a:00:01:0b', 'peer MAC');
  t.equal(peer?.mtu, 1450, 'peer MTU');

  // Peer by namespace name (opened for the call), and the local end also created elsewhere.
  await rtnl.links.addVeth('x-local', { name: 'x-peer', netns: { name: c } }, { netns: nsB });
  t.ok(ipLink(b, 'x-local'), 'first end created in namespace b');
  t.ok(ipLink(c, 'x-peer'), 'peer created in namespace c');
  t.equal(ipLinks(a).filter((l) => l.ifname.startsWith('x-')).length, 0, 'neither end in the socket namespace');
});

t.test('a link moves to another namespace by handle (with a new name) and by pid', async (t) => {
  const { name: a, rtnl } = scratchRtnl(t, 'ma');
  const { name: b } = scratchNetns(t, 'mb');
  const { name: c } = scratchNetns(t, 'mc');
  await rtnl.links.addVeth('m0', { name: 'm1' });
  await rtnl.links.addVxlan('mvx', { vni: 42 });

  const nsB = Netns.open({ name: b });
  t.teardown(() => nsB.close());
  await rtnl.links.moveTo('m1', nsB, { name: 'eth0' });
  t.equal(ipLink(a, 'm1'), undefined, 'gone from the source namespace');
  t.equal(ipLink(b, 'eth0')?.linkinfo?.info_kind, 'veth', 'arrived in b, renamed to eth0');

  const sleeper = await spawnInNetns(t, c, ['sleep', '30']);
  await rtnl.links.moveTo('mvx', { pid: sleeper.pid });
  t.equal(ipLink(a, 'mvx'), undefined, 'vxlan gone from the source namespace');
  t.equal(ipLink(c, 'mvx')?.linkinfo?.info_kind, 'vxlan', 'vxlan arrived in the namespace of the process');
  t.equal(ipLink(c, 'mvx')?.linkinfo?.info_data?.id, 42, 'still VNI 42');

  // A bridge is local to its namespace: the kernel refuses, and the error says what and where.
  await rtnl.links.addBridge('mbr');
  await t.rejects(rtnl.links.moveTo('mbr', nsB), { code: 'EINVAL', op: `move link mbr to ${b} in ${a}` }, 'bridges cannot move');
});

t.test('name, MAC, MTU, up/down and master can be changed', async (t) => {
  const { name, rtnl } = scratchRtnl(t, 'ch');
  await rtnl.links.addBridge('br0');
  await rtnl.links.addVeth('v0', { name: 'v1' });

  await rtnl.links.rename('v0', 'port0');
  t.equal(ipLink(name, 'v0'), undefined, 'old name gone');
  t.ok(ipLink(name, 'port0'), 'new name present');

  await rtnl.links.setMac('port0', '02:42:0a:00:01:0c');
  t.equal(ipLink(name, 'port0')?.address, '02:42:0a:00:01:0c', 'MAC per iproute2');

  await rtnl.links.setMtu('port0', 1400);
  t.equal(ipLink(name, 'port0')?.mtu, 1400, 'MTU per iproute2');

  await rtnl.links.setUp('port0');
  t.ok(ipLink(name, 'port0')?.flags.includes('UP'), 'up per iproute2');
  t.equal((await rtnl.links.get('port0')).up, true, 'up per our reader');
  await rtnl.links.setDown('port0');
  t.notOk(ipLink(name, 'port0')?.flags.includes('UP'), 'down per iproute2');
  t.equal((await rtnl.links.get('port0')).up, false, 'down per our reader');

  await rtnl.links.setMaster('port0', 'br0');
  t.equal(ipLink(name, 'port0')?.master, 'br0', 'attached per iproute2');
  t.equal((await rtnl.links.get('port0')).master, 'br0', 'attached per our reader');
  await rtnl.links.clearMaster('port0');
  t.equal(ipLink(name, 'port0')?.master, undefined, 'detached per iproute2');
  t.equal((await rtnl.links.get('port0')).master, undefined, 'detached per our reader');
});

t.test('list() reads back what iproute2 shows', async (t) => {
  const { name, rtnl } = scratchRtnl(t, 'ls');
  await rtnl.links.addBridge('br0', { mtu: 1450 });
  await rtnl.links.addVeth('v0', { name: 'v1', mac: '02:00:00:00:00:01' }, { mac: '02:00:00:00:00:02' });
  await rtnl.links.setMaster('v0', 'br0');
  await rtnl.links.setUp('br0');

  const ours = (await rtnl.links.list()).map((l) => ({ index: l.index, name: l.name, kind: l.kind, mtu: l.mtu, mac: l.mac, up: l.up, master: l.master }));
  const theirs = ipLinks(name).map((l) => ({
    index: l.ifindex,
    name: l.ifname,
    kind: l.linkinfo?.info_kind,
    mtu: l.mtu,
    mac: l.address,
    up: l.flags.includes('UP'),
    master: l.master,
  }));
  t.same(ours, theirs);
  t.same(ours.map((l) => l.name).sort(), ['br0', 'lo', 'v0', 'v1']);
});

t.test('delete removes a link (and its veth peer)', async (t) => {
  const { name, rtnl } = scratchRtnl(t, 'de');
  await rtnl.links.addVeth('v0', { name: 'v1' });
  await rtnl.links.delete('v0');
  t.same(ipLinks(name).map((l) => l.ifname), ['lo'], 'both ends gone');
  t.equal(await rtnl.links.find('v0'), undefined, 'find() says undefined');
  await t.rejects(rtnl.links.get('v0'), { code: 'ENODEV' }, 'get() says ENODEV');
});

t.test('failures are KernelErrors with the errno name and what failed where', async (t) => {
  const { name, rtnl } = scratchRtnl(t, 'er');
  await rtnl.links.addBridge('br0');

  await t.rejects(rtnl.links.addBridge('br0'), { name: 'KernelError', code: 'EEXIST', op: `add link br0 (bridge) in ${name}` }, 'duplicate link is EEXIST');
  await t.rejects(rtnl.links.addVeth('br0', { name: 'p0' }), { code: 'EEXIST' }, 'a veth with a taken name too');
  await t.rejects(rtnl.links.setUp('nope0'), { code: 'ENODEV', message: new RegExp(`^set link nope0 up in ${name}: no link named 'nope0'`) }, 'unknown link name is ENODEV');
  await t.rejects(rtnl.links.setMaster('br0', 'nobr'), { code: 'ENODEV', message: /nobr/ }, 'unknown master is ENODEV');
  await t.rejects(rtnl.links.delete('nope0'), { code: 'ENODEV' });
  await t.rejects(rtnl.links.setMtu(9999, 1400), { code: 'ENODEV' }, 'unknown ifindex is ENODEV from the kernel');
  await t.rejects(rtnl.links.addVxlan('vxbad', { vni: 1 << 24 }), { code: 'ERANGE' }, 'VNI out of range');
  await t.rejects(rtnl.links.addBridge('this-name-is-too-long'), { code: 'EINVAL' }, 'a name over 15 characters');
  await t.rejects(rtnl.links.setMac('br0', '02:42'), { code: 'EINVAL' }, 'a malformed MAC');
  await t.rejects(rtnl.links.moveTo('br0', { name: 'shoal-no-such-ns' }), { code: 'ENOENT' }, 'a namespace that does not exist');

  rtnl.close();
  await t.rejects(rtnl.links.list(), { code: 'EBADF' }, 'a closed socket is EBADF');
});
