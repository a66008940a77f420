// A real VXLAN overlay built only through src/kernel, end to end: two "hosts" joined by a veth
// underlay (192.168.99.1/2), in each an overlay namespace with br0 and a VXLAN device created in the
// host namespace and moved in, and a task namespace on a veth; peers programmed with static FDB and
// neighbour entries. Tasks ping each other across the underlay; take the FDB entries away and they
// cannot. Every address used lives in namespaces this test creates.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import { FLOOD_MAC, type Rtnl } from '../../src/kernel/rtnl.js';
import { ipJson, ipLink, scratchRtnl, sh, type ScratchRtnl } from '../lib/kernel.js';

const execFileP = promisify(execFile);

const VNI = 42;
const MTU = 1450;

interface Side {
  host: ScratchRtnl;
  overlay: ScratchRtnl;
  task: ScratchRtnl;
  underlayIp: string;
  taskIp: string;
  taskMac: string;
}

/** Docker's convention: the task MAC is 02:42 followed by its IPv4 address. */
function macOf(ip: string): string {
  return `02:42:${ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0')).join(':')}`;
}

async function ping(netns: string, ip: string, waitSeconds: number): Promise<boolean> {
  try {
    await execFileP('ip', ['netns', 'exec', netns, 'ping', '-c1', `-W${waitSeconds}`, ip], { timeout: (waitSeconds + 5) * 1000 });
    return true;
  } catch {
    return false;
  }
}

/** br0 in the overlay namespace, the VXLAN made in the host namespace and moved in as vxlan0, and a task on a veth. */
async function buildSide(side: Side): Promise<void> {
  const { host, overlay, task } = side;
  await overlay.rtnl.links.addBridge('br0', { mtu: MTU });
  await overlay.rtnl.links.setUp('br0');

  await host.rtnl.links.addVxlan(`vx-${VNI}`, { vni: VNI, port: 4789, local: side.underlayIp, learning: false, proxy: true });
  await host.rtnl.links.moveTo(`vx-${VNI}`, overlay.ns, { name: 'vxlan0' });
  await overlay.rtnl.links.setMtu('vxlan0', MTU);
  await overlay.rtnl.links.setMaster('vxlan0', 'br0');
  await overlay.rtnl.links.setUp('vxlan0');

  await overlay.rtnl.links.addVeth('veth-t', { name: 'eth0', netns: task.ns, mtu: MTU, mac: side.taskMac }, { mtu: MTU });
  await overlay.rtnl.links.setMaster('veth-t', 'br0');
  await overlay.rtnl.links.setUp('veth-t');
  await task.rtnl.addresses.add('eth0', `${side.taskIp}/24`);
  await task.rtnl.links.setUp('eth0');
}

/** What the overlay of `self` needs to reach the task behind `peer`. */
async function programPeer(rtnl: Rtnl, peer: Side): Promise<void> {
  await rtnl.fdb.append('vxlan0', { mac: FLOOD_MAC, dst: peer.underlayIp });
  await rtnl.fdb.add('vxlan0', { mac: peer.taskMac, dst: peer.underlayIp });
  await rtnl.neighbours.add('vxlan0', peer.taskIp, peer.taskMac);
}

t.test('two tasks talk over a VXLAN overlay programmed through src/kernel', async (t) => {
  const side = (n: 1 | 2): Side => ({
    host: scratchRtnl(t, `h${n}`),
    overlay: scratchRtnl(t, `o${n}`),
    task: scratchRtnl(t, `t${n}`),
    underlayIp: `192.168.99.${n}`,
    taskIp: `10.99.0.${n + 1}`,
    taskMac: macOf(`10.99.0.${n + 1}`),
  });
  const a = side(1);
  const b = side(2);

  // Underlay: one veth between the two host namespaces, the far end created directly in b's.
  await a.host.rtnl.links.addVeth('eth0', { name: 'eth0', netns: b.host.ns });
  await a.host.rtnl.addresses.add('eth0', '192.168.99.1/24');
  await b.host.rtnl.addresses.add('eth0', '192.168.99.2/24');
  await a.host.rtnl.links.setUp('eth0');
  await b.host.rtnl.links.setUp('eth0');

  await buildSide(a);
  await buildSide(b);
  await programPeer(a.overlay.rtnl, b);
  await programPeer(b.overlay.rtnl, a);

  const vx = ipLink(a.overlay.name, 'vxlan0');
  t.match(vx, { mtu: MTU, master: 'br0', linkinfo: { info_kind: 'vxlan', info_data: { id: VNI, port: 4789, local: '192.168.99.1', learning: false, proxy: true } } }, 'vxlan0 as iproute2 sees it');
  t.type(vx?.link_netnsid, 'number', 'vxlan0 is tied to another namespace (the host one it was created in)');
  t.match(sh('ip', ['netns', 'exec', a.host.name, 'ss', '-Hlun']), /:4789\b/, 'the VXLAN UDP socket lives in the host namespace');
  t.equal(ipJson<{ addr_info: { local: string }[] }[]>(a.task.name, ['addr', 'show', 'dev', 'eth0'])[0]?.addr_info.find((x) => x.local === a.taskIp)?.local, a.taskIp, 'task a has its address');

  t.ok(await ping(a.task.name, b.taskIp, 2), `task a (${a.taskIp}) pings task b (${b.taskIp}) across the overlay`);
  t.ok(await ping(b.task.name, a.taskIp, 2), 'and back');

  // Take away the way to b (its MAC entry and its flood entry): the same ping must now fail.
  await a.overlay.rtnl.fdb.delete('vxlan0', { mac: b.taskMac, dst: b.underlayIp });
  await a.overlay.rtnl.fdb.delete('vxlan0', { mac: FLOOD_MAC, dst: b.underlayIp });
  t.notOk(await ping(a.task.name, b.taskIp, 1), 'without the FDB entries the packets have nowhere to go');
});
