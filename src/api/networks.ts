// Network endpoints in the Docker Engine API's shapes: POST /networks/create, GET /networks,
// GET /networks/{id}, DELETE /networks/{id}. A create is checked completely (name, driver, subnet,
// gateway, overlap, options) before anything is written; it returns once the leader has given the
// network its subnet and VNI, or with the allocator's reason why it could not.
import type { Swarm } from '../cluster/swarm.js';
import { newId } from '../cluster/ids.js';
import { EGRESS_BRIDGE } from '../controllers/egress.js';
import { contains, intToIp, ipToInt, IpamError, overlaps, parseCidr } from '../controllers/ipam.js';
import type { RunningNode } from '../controllers/node.js';
import { objectNameProblem } from '../model/names.js';
import { type NetworkAllocation, type NetworkSpec } from '../model/network.js';
import { ApiError, type ApiRequest } from './http.js';
import { resolveByName } from './resolve.js';
import type { Router } from './router.js';
import { swarmHandler } from './swarm.js';
import { requireRunning, type Running } from './cluster.js';
import { tunables } from '../config/tunables.js';

function body(req: ApiRequest): Record<string, unknown> {
  if (req.body === undefined || typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) throw new ApiError(400, 'request body must be a JSON object like {"Name": "appnet", "Driver": "overlay"}');
  return req.body as Record<string, unknown>;
}

function stringMap(v: unknown, field: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) throw new ApiError(400, `${field} must be an object of strings`);
  return v as Record<string, string>;
}

/** Checks a create request completely; returns the spec to store. */
export function validateCreate(b: Record<string, unknown>, existing: readonly { spec: NetworkSpec; alloc?: NetworkAllocation }[]): NetworkSpec {
  const name = b.Name;
  const problem = objectNameProblem(name);
  if (problem !== undefined || typeof name !== 'string') throw new ApiError(400, `rpc error: code = InvalidArgument desc = ${problem}`);
  if (existing.some((n) => n.spec.name === name)) throw new ApiError(409, `network with name ${name} already exists`);
  const driver = b.Driver ?? 'overlay';
  if (driver !== 'overlay') throw new ApiError(400, `network driver ${JSON.stringify(driver)} is not supported: shoal makes swarm-scoped overlay networks (use -d overlay)`);
  const ingress = b.Ingress === true;
  if (ingress && existing.some((n) => n.spec.ingress)) throw new ApiError(403, `an ingress network already exists (${existing.find((n) => n.spec.ingress)!.spec.name}): remove it before making another`);
  const options = stringMap(b.Options, 'Options');
  const mtuText = options.mtu ?? options['com.docker.network.driver.mtu'];
  if (mtuText !== undefined && !(/^\d+$/.test(mtuText) && Number(mtuText) >= 576 && Number(mtuText) <= 65485)) throw new ApiError(400, `invalid mtu option ${JSON.stringify(mtuText)}: give the MTU inside the overlay, 576 to 65485 (the underlay's minus 50 is the default)`);
  const unknown = Object.keys(options).filter((k) => !['mtu', 'com.docker.network.driver.mtu'].includes(k));
  if (unknown.length > 0) throw new ApiError(400, `unsupported network option ${unknown.map((k) => JSON.stringify(k)).join(', ')}: shoal's overlay takes mtu`);
  const ipam = (b.IPAM ?? {}) as { Config?: { Subnet?: string; Gateway?: string; IPRange?: string }[] };
  const configs = Array.isArray(ipam.Config) ? ipam.Config : [];
  if (configs.length > 1) throw new ApiError(400, 'one subnet per network: give --subnet once');
  const subnetText = configs[0]?.Subnet || undefined;
  const gateway = configs[0]?.Gateway || undefined;
  if (gateway && !subnetText) throw new ApiError(400, `--gateway ${gateway} needs --subnet as well`);
  if (subnetText) {
    let subnet;
    try {
      subnet = parseCidr(subnetText);
    } catch (err) {
      throw new ApiError(400, `invalid subnet: ${(err as IpamError).message}`);
    }
    if (subnet.prefix > 29) throw new ApiError(400, `subnet ${subnetText} is too small: use /29 or bigger (a /29 holds 5 tasks and the gateway)`);
    for (const n of existing) {
      const other = n.alloc?.subnet ?? n.spec.ipam.subnet;
      if (other && overlaps(parseCidr(other), subnet)) throw new ApiError(403, `Pool overlaps with other one on this address space: ${subnetText} overlaps ${other} of network ${n.spec.name}`);
    }
    if (gateway) {
      let g: number;
      try {
        g = ipToInt(gateway);
      } catch {
        throw new ApiError(400, `invalid gateway '${gateway}': give an IPv4 address inside ${subnetText}`);
      }
      if (!contains(subnet, gateway) || g === subnet.base || g === subnet.base + subnet.size - 1) throw new ApiError(400, `gateway ${gateway} is not a host address of ${subnetText} (${intToIp(subnet.base + 1)} to ${intToIp(subnet.base + subnet.size - 2)})`);
    }
  }
  return {
    id: newId(), name, driver: 'overlay', ingress, attachable: b.Attachable === true, labels: stringMap(b.Labels, 'Labels'), options,
    ipam: { ...(subnetText ? { subnet: subnetText } : {}), ...(gateway ? { gateway } : {}) }, createdAt: new Date().toISOString(),
  };
}

/** Docker's network object. */
export function networkView(r: RunningNode, spec: NetworkSpec): Record<string, unknown> {
  const alloc = r.view.tables.networkAllocations.get(spec.id)?.value;
  const eps = r.view.tables.endpoints.list().map((e) => e.value).filter((e) => e.networkId === spec.id);
  const peers = [...new Set(eps.map((e) => e.nodeId))].map((id) => ({ Name: r.view.node(id)?.hostname ?? id, IP: r.view.node(id)?.addr ?? '' }));
  const containers: Record<string, unknown> = {};
  for (const e of eps.filter((x) => x.nodeId === r.view.nodeId && x.taskId)) {
    const t = r.view.tables.tasks.get(e.taskId!)?.value;
    const st = r.view.tables.taskStatus.get(e.taskId!)?.value;
    containers[st?.containerId ?? e.taskId!] = { Name: t ? `${t.serviceName}.${t.slot ?? t.nodeId}.${t.id}` : e.taskId, EndpointID: e.id, MacAddress: e.mac, IPv4Address: t?.networks.find((n) => n.networkId === spec.id)?.addr ?? e.ip, IPv6Address: '' };
  }
  return {
    Name: spec.name, Id: spec.id, Created: spec.createdAt, Scope: 'swarm', Driver: spec.driver, EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: alloc?.subnet ? [{ Subnet: alloc.subnet, Gateway: alloc.gateway }] : spec.ipam.subnet ? [{ Subnet: spec.ipam.subnet, ...(spec.ipam.gateway ? { Gateway: spec.ipam.gateway } : {}) }] : [] },
    Internal: false, Attachable: spec.attachable, Ingress: spec.ingress, ConfigFrom: { Network: '' }, ConfigOnly: false,
    Containers: containers,
    Options: { ...spec.options, ...(alloc?.vni !== undefined ? { 'com.docker.network.driver.overlay.vxlanid_list': String(alloc.vni) } : {}) },
    Labels: spec.labels,
    Peers: peers,
    ...(alloc?.error ? { Status: { Error: alloc.error } } : {}),
  };
}

/** The node-local egress bridge, listed as Docker lists docker_gwbridge. */
function egressView(): Record<string, unknown> {
  return { Name: EGRESS_BRIDGE, Id: EGRESS_BRIDGE, Scope: 'local', Driver: 'bridge', EnableIPv6: false, Internal: false, Attachable: false, Ingress: false, Options: {}, Labels: {} };
}

function specs(r: RunningNode): { spec: NetworkSpec; alloc?: NetworkAllocation }[] {
  return r.view.tables.networks.list().map(({ value }) => {
    const alloc = r.view.tables.networkAllocations.get(value.id)?.value;
    return alloc ? { spec: value, alloc } : { spec: value };
  });
}

export function findNetwork(r: RunningNode, name: string): NetworkSpec {
  return resolveByName(r.view.tables.networks.list().map((e) => e.value), name, (n) => n.id, (n) => n.name, 'network');
}

async function waitForAllocation(r: RunningNode, id: string): Promise<NetworkAllocation | undefined> {
  const deadline = Date.now() + tunables.allocationWaitMs;
  for (;;) {
    if (r.view.isLeader()) await r.leader.settle();
    const alloc = r.view.tables.networkAllocations.get(id)?.value;
    if (alloc || Date.now() > deadline) return alloc;
    await new Promise((res) => setTimeout(res, 50));
  }
}

export function addNetworkRoutes(router: Router, swarm: Swarm, node: Running): void {
  router.add('POST', '/networks/create', swarmHandler(async (req) => {
    const r = requireRunning(swarm, node);
    const spec = validateCreate(body(req), specs(r));
    await r.view.tables.networks.put(spec.id, spec);
    const alloc = await waitForAllocation(r, spec.id);
    if (alloc?.error) {
      await r.view.tables.networks.delete(spec.id);
      throw new ApiError(400, `could not create network ${spec.name}: ${alloc.error}`);
    }
    return { status: 201, body: { Id: spec.id, Warning: alloc ? '' : 'the leader has not allocated the network yet; it will be usable once it has' } };
  }));

  router.add('GET', '/networks', swarmHandler(() => {
    const r = requireRunning(swarm, node);
    return { body: [...r.view.tables.networks.list().map((e) => networkView(r, e.value)), egressView()] };
  }));

  router.add('GET', '/networks/{id}', swarmHandler((req) => {
    const r = requireRunning(swarm, node);
    if (req.params.id === EGRESS_BRIDGE) return { body: egressView() };
    return { body: networkView(r, findNetwork(r, req.params.id!)) };
  }));

  router.add('DELETE', '/networks/{id}', swarmHandler(async (req) => {
    const r = requireRunning(swarm, node);
    if (req.params.id === EGRESS_BRIDGE) throw new ApiError(403, `${EGRESS_BRIDGE} is this node's egress bridge, not a swarm network: it cannot be removed`);
    const spec = findNetwork(r, req.params.id!);
    const services = r.view.tables.services.list().map((e) => e.value).filter((s) => s.spec.TaskTemplate.Networks.some((n) => n.Target === spec.id) || (spec.ingress && s.spec.EndpointSpec.Ports.some((p) => p.PublishMode === 'ingress')));
    if (services.length > 0) throw new ApiError(403, `network ${spec.name} is in use by service ${services.map((s) => s.spec.Name).join(', ')}: remove the service (or take the network out of it with \`service update --network-rm\`) first`);
    const tasks = r.view.tables.tasks.list().map((e) => e.value).filter((t) => t.networks.some((n) => n.networkId === spec.id));
    if (tasks.length > 0) throw new ApiError(403, `network ${spec.name} is in use by ${tasks.length} task${tasks.length === 1 ? '' : 's'} still stopping (${tasks[0]!.serviceName}): try again in a few seconds`);
    await r.view.tables.networks.delete(spec.id);
    return { status: 204, body: undefined };
  }));
}
