// Plugging a task into a network and out again, the same for every runtime: a veth pair made with
// both ends directly in their target namespaces (the bridge side in the network's sandbox, the task
// side in the task), so nothing ever appears in the agent's own namespace. The task side gets its
// name, MAC, MTU, address, `up` and an optional default route; the bridge side its master and `up`.
import { isIP } from 'node:net';
import { isKernelError, KernelError } from '../kernel/errors.js';
import { describeNetns, type NetnsRef } from '../kernel/netns.js';
import { openRtnl, type Link, type Rtnl } from '../kernel/rtnl.js';
import { RuntimeError, type NetworkAttachment } from './runtime.js';

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const IFNAME_RE = /^[^\s/:]{1,15}$/;

/** Throws INVALID naming the field that cannot work. */
export function validateAttachment(a: NetworkAttachment): void {
  const bad = (problem: string): RuntimeError => new RuntimeError(`attachment ${a.ifname ?? '?'}: ${problem}`, 'INVALID');
  for (const [field, name] of [['ifname', a.ifname], ['hostIfname', a.hostIfname], ['bridge.name', a.bridge?.name]] as const) {
    if (typeof name !== 'string' || !IFNAME_RE.test(name) || name === '.' || name === '..') {
      throw bad(`${field} '${name}' must be 1-15 characters without spaces, '/' or ':'`);
    }
  }
  if (!MAC_RE.test(a.mac ?? '')) throw bad(`mac '${a.mac}' must be six lower-case hex pairs like 02:42:0a:00:01:05`);
  if (!Number.isInteger(a.mtu) || a.mtu < 68 || a.mtu > 65535) throw bad(`mtu ${a.mtu} must be an integer from 68 to 65535`);
  const [ip, prefix, extra] = (a.address ?? '').split('/');
  const family = isIP(ip ?? '');
  const max = family === 6 ? 128 : 32;
  if (family === 0 || extra !== undefined || prefix === undefined || !/^\d+$/.test(prefix) || Number(prefix) > max) {
    throw bad(`address '${a.address}' must be an address with a prefix length, like 10.0.1.5/24`);
  }
  if (a.defaultGateway !== undefined && isIP(a.defaultGateway) !== family) {
    throw bad(`defaultGateway '${a.defaultGateway}' must be an address of the same family as ${a.address}`);
  }
}

/** The address part of attachment.address (10.0.1.5 of 10.0.1.5/24). */
export function attachmentIp(a: Pick<NetworkAttachment, 'address'>): string {
  return a.address.split('/')[0] ?? a.address;
}

/**
 * Plugs a veth into the task whose network namespace is `task`. Attaching again with the same
 * settings is a no-op (missing pieces such as `up` or the route are put back); an interface of that
 * name with other settings is a CONFLICT.
 */
export async function attach(task: NetnsRef, a: NetworkAttachment): Promise<void> {
  validateAttachment(a);
  const bridgeNs = openNs(a.bridge.netns, 'the bridge namespace');
  try {
    const taskNs = openNs(task, 'the task namespace');
    try {
      await plug(bridgeNs, taskNs, task, a);
    } finally {
      taskNs.close();
    }
  } finally {
    bridgeNs.close();
  }
}

/** Deletes the pair from the bridge side. A veth (or bridge namespace) that is already gone is fine. */
export async function detach(a: Pick<NetworkAttachment, 'bridge' | 'hostIfname'>): Promise<void> {
  let rtnl: Rtnl;
  try {
    rtnl = openRtnl(a.bridge.netns);
  } catch (err) {
    if (isKernelError(err, 'ENOENT')) return;
    throw toRuntimeError(err, `detach ${a.hostIfname}`);
  }
  try {
    await rtnl.links.delete(a.hostIfname);
  } catch (err) {
    if (!isKernelError(err, 'ENODEV')) throw toRuntimeError(err, `detach ${a.hostIfname}`);
  } finally {
    rtnl.close();
  }
}

async function plug(bridgeNs: Rtnl, taskNs: Rtnl, task: NetnsRef, a: NetworkAttachment): Promise<void> {
  const what = `attach ${a.ifname} (bridge side ${a.hostIfname} on ${a.bridge.name} in ${describeNetns(a.bridge.netns)})`;
  try {
    const bridge = await bridgeNs.links.find(a.bridge.name);
    if (!bridge || bridge.kind !== 'bridge') {
      throw new RuntimeError(`${what}: there is no bridge ${a.bridge.name} in ${describeNetns(a.bridge.netns)}`, 'NOT_FOUND');
    }
    const inside = await taskNs.links.find(a.ifname);
    const outside = await bridgeNs.links.find(a.hostIfname);
    let created = false;
    if (inside) {
      checkExisting(what, a, inside, outside);
    } else {
      if (outside) {
        throw new RuntimeError(`${what}: ${a.hostIfname} already exists in ${describeNetns(a.bridge.netns)} but the task has no ${a.ifname}; detach it or pick another name`, 'CONFLICT');
      }
      await bridgeNs.links.addVeth(a.hostIfname, { name: a.ifname, netns: task, mtu: a.mtu, mac: a.mac }, { mtu: a.mtu });
      created = true;
    }
    try {
      await configure(bridgeNs, taskNs, a);
    } catch (err) {
      if (created) await bridgeNs.links.delete(a.hostIfname).catch(() => undefined); // leave no half-plugged pair
      throw err;
    }
  } catch (err) {
    throw toRuntimeError(err, what);
  }
}

function checkExisting(what: string, a: NetworkAttachment, inside: Link, outside: Link | undefined): void {
  const differences: string[] = [];
  if (inside.kind !== 'veth') differences.push(`it is a ${inside.kind ?? 'device'}, not a veth`);
  if (inside.mac !== a.mac) differences.push(`mac ${inside.mac} (wanted ${a.mac})`);
  if (inside.mtu !== a.mtu) differences.push(`mtu ${inside.mtu} (wanted ${a.mtu})`);
  if (!outside) differences.push(`its bridge side ${a.hostIfname} is not in ${describeNetns(a.bridge.netns)}`);
  else if (outside.kind !== 'veth') differences.push(`${a.hostIfname} is a ${outside.kind ?? 'device'}, not a veth`);
  if (differences.length > 0) {
    throw new RuntimeError(`${what}: the task already has ${a.ifname} with other settings: ${differences.join('; ')}`, 'CONFLICT');
  }
}

async function configure(bridgeNs: Rtnl, taskNs: Rtnl, a: NetworkAttachment): Promise<void> {
  const outside = await bridgeNs.links.get(a.hostIfname);
  if (outside.master !== a.bridge.name) await bridgeNs.links.setMaster(a.hostIfname, a.bridge.name);
  if (!outside.up) await bridgeNs.links.setUp(a.hostIfname);

  const have = await taskNs.addresses.list(a.ifname);
  if (!have.some((x) => x.cidr === a.address)) await taskNs.addresses.add(a.ifname, a.address);
  await taskNs.links.setUp(a.ifname);
  if (a.defaultGateway !== undefined) {
    await taskNs.routes.replace({ dst: 'default', via: a.defaultGateway, dev: a.ifname, family: isIP(a.defaultGateway) === 6 ? 6 : 4 });
  }
}

function openNs(ref: NetnsRef, what: string): Rtnl {
  try {
    return openRtnl(ref);
  } catch (err) {
    if (isKernelError(err, 'ENOENT')) {
      throw new RuntimeError(`${what} ${describeNetns(ref)} does not exist (has the task or network gone?)`, 'NOT_FOUND');
    }
    throw toRuntimeError(err, `open ${what} ${describeNetns(ref)}`);
  }
}

/** Kernel failures as runtime errors: EINVAL is INVALID, a missing thing NOT_FOUND, EEXIST a CONFLICT. */
export function toRuntimeError(err: unknown, what: string): RuntimeError {
  if (err instanceof RuntimeError) return err;
  if (err instanceof KernelError) {
    const code = err.code === 'EINVAL' || err.code === 'ERANGE' ? 'INVALID'
      : err.code === 'ENOENT' || err.code === 'ENODEV' || err.code === 'ESRCH' ? 'NOT_FOUND'
      : err.code === 'EEXIST' ? 'CONFLICT'
      : 'FAILED';
    return new RuntimeError(`${what}: ${err.message}`, code);
  }
  return new RuntimeError(`${what}: ${err instanceof Error ? err.message : String(err)}`);
}
