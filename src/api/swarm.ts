// Swarm endpoints in the Docker Engine API's shapes: /swarm/init, /swarm/join, /swarm/leave,
// /swarm, /swarm/join-token (shoal's rotate), /info and /nodes.
import { isIP } from 'node:net';
import type { AgentConfig } from '../config/agent-config.js';
import { DiscoveryError, findManager } from '../cluster/discovery.js';
import { fingerprint } from '../cluster/gossip-keys.js';
import { ALREADY_IN_SWARM, SwarmError } from '../cluster/errors.js';
import type { Swarm } from '../cluster/swarm.js';
import { parseToken, TokenError } from '../cluster/token.js';
import { MIN_CERT_EXPIRY_MESSAGE, MIN_NODE_CERT_EXPIRY_MS, nodeCertExpiryOf, type ClusterSettings } from '../model/cluster.js';
import type { NodeRecord } from '../model/node.js';
import type { Logger } from '../util/log.js';
import { packageVersion } from '../util/paths.js';
import { ApiError, type ApiRequest, type Handler } from './http.js';
import type { Router } from './router.js';

function body(req: ApiRequest): Record<string, unknown> {
  if (req.body === undefined) return {};
  if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) throw new ApiError(400, 'request body must be a JSON object');
  return req.body as Record<string, unknown>;
}

function optString(b: Record<string, unknown>, key: string): string | undefined {
  const v = b[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new ApiError(400, `${key} must be a string`);
  return v;
}

/** Turns SwarmError into the API error it names; lets others through. */
export function swarmHandler(fn: Handler): Handler {
  return async (req) => {
    try {
      return await fn(req);
    } catch (err) {
      if (err instanceof SwarmError) throw new ApiError(err.status, err.message);
      throw err;
    }
  };
}

function listenPort(listenAddr: string | undefined): number {
  if (!listenAddr) return 2377;
  const m = /^(?:(.*):)?(\d+)$/.exec(listenAddr);
  const port = Number(m?.[2]);
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) throw new ApiError(400, `invalid ListenAddr '${listenAddr}': use IP:PORT, like 0.0.0.0:2377`);
  return port;
}

function advertiseAddr(b: Record<string, unknown>, config: AgentConfig): string {
  const a = optString(b, 'AdvertiseAddr')?.replace(/:\d+$/, '') ?? config.advertiseAddr;
  if (!a) throw new ApiError(400, 'could not choose an IP address to advertise: give one with --advertise-addr (e.g. --advertise-addr 192.168.56.101)');
  if (isIP(a) === 0) throw new ApiError(400, `advertise address '${a}' must be an IP address of this node`);
  return a;
}

/**
 * A Spec's CAConfig.NodeCertExpiry (nanoseconds, Docker's --cert-expiry), in ms; undefined when absent
 * or 0 (Docker's daemon passes on only a value that is set). Below swarmkit's minimum it is refused
 * with swarmkit's words, before anything changes. (/swarm/init carries the Spec in its body's Spec;
 * /swarm/update's body is the Spec.)
 */
function certExpiryOf(spec: unknown): number | undefined {
  if (spec === undefined || spec === null) return undefined;
  if (typeof spec !== 'object' || Array.isArray(spec)) throw new ApiError(400, 'Spec must be a JSON object');
  const ca = (spec as Record<string, unknown>).CAConfig;
  if (ca === undefined || ca === null) return undefined;
  if (typeof ca !== 'object' || Array.isArray(ca)) throw new ApiError(400, 'Spec.CAConfig must be a JSON object');
  const ns = (ca as Record<string, unknown>).NodeCertExpiry;
  if (ns === undefined || ns === null || ns === 0) return undefined;
  if (typeof ns !== 'number' || !Number.isFinite(ns) || ns < 0) throw new ApiError(400, 'Spec.CAConfig.NodeCertExpiry must be a duration in nanoseconds (e.g. 7776000000000000 for 2160h)');
  if (ns < MIN_NODE_CERT_EXPIRY_MS * 1e6) throw new ApiError(400, MIN_CERT_EXPIRY_MESSAGE);
  return Math.round(ns / 1e6);
}

/** The parts of Docker's Spec that shoal keeps: CAConfig.NodeCertExpiry (ns). */
function specView(s: ClusterSettings): { Name: string; CAConfig: { NodeCertExpiry: number } } {
  return { Name: 'default', CAConfig: { NodeCertExpiry: nodeCertExpiryOf(s) * 1e6 } };
}

/** This node's live gossip keyring as fingerprints (shoal's addition to /info). */
function keyringView(swarm: Swarm): { Keys: string[]; Primary: string } | undefined {
  const k = swarm.gossipKeyring();
  return k && { Keys: k.keys, Primary: k.primary };
}

/** No manager address given: one of the token's swarm, found by mDNS on the advertise address's network. */
async function discoverManager(token: string, localAddr: string, log: Logger): Promise<string> {
  try {
    const m = await findManager({ localAddr, caDigest: parseToken(token).caDigest, log });
    return `${m.addr}:${m.port}`;
  } catch (err) {
    if (err instanceof DiscoveryError || err instanceof TokenError) throw new ApiError(400, err.message);
    throw err;
  }
}

/** /info's Swarm.Cluster: its ID, and on a manager (as in Docker) the Spec. */
function clusterInfo(swarm: Swarm, manager: boolean): { ID: string; Spec?: ReturnType<typeof specView> } {
  const s = swarm.clusterSettings();
  return { ID: s?.id ?? '', ...(manager && s ? { Spec: specView(s) } : {}) };
}

/** The node's load-balancer backend, as /info shows it (shoal's, not Docker's). */
export interface LbInfo { kind: string; reason: string }

export function addSwarmRoutes(router: Router, swarm: Swarm, config: AgentConfig, mdnsLog: Logger, lb: () => LbInfo | undefined = () => undefined): void {
  router.add('POST', '/swarm/init', swarmHandler(async (req) => {
    const b = body(req);
    const pool = b.DefaultAddrPool ?? ['10.0.0.0/8'];
    if (!Array.isArray(pool) || pool.some((p) => typeof p !== 'string' || !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(p))) throw new ApiError(400, 'DefaultAddrPool must be a list of IPv4 CIDRs, like ["10.0.0.0/8"]');
    const subnetSize = b.SubnetSize === undefined || b.SubnetSize === 0 ? 24 : Number(b.SubnetSize);
    if (!Number.isInteger(subnetSize) || subnetSize < 8 || subnetSize > 29) throw new ApiError(400, 'SubnetSize (--default-addr-pool-mask-length) must be 8..29');
    if (b.ForceNewCluster !== undefined && typeof b.ForceNewCluster !== 'boolean') throw new ApiError(400, 'ForceNewCluster must be true or false');
    const certExpiryMs = certExpiryOf(b.Spec);
    if (b.ForceNewCluster === true && swarm.active) {
      const id = await swarm.forceNewCluster();
      if (certExpiryMs !== undefined) await swarm.setCertExpiry(certExpiryMs);
      return { body: id };
    }
    const id = await swarm.init({ advertiseAddr: advertiseAddr(b, config), listenPort: listenPort(optString(b, 'ListenAddr')), defaultAddrPool: pool as string[], subnetSize, ...(certExpiryMs !== undefined ? { certExpiryMs } : {}) });
    return { body: id };
  }));

  router.add('POST', '/swarm/join', swarmHandler(async (req) => {
    const b = body(req);
    const token = optString(b, 'JoinToken');
    if (!token) throw new ApiError(400, 'JoinToken is required: `shoal swarm join --token SWMTKN-1-... MANAGER:2377`');
    const remotes = b.RemoteAddrs ?? [];
    if (!Array.isArray(remotes) || (remotes.length > 0 && typeof remotes[0] !== 'string')) throw new ApiError(400, 'RemoteAddrs must name a manager, like ["192.168.56.101:2377"], or be empty to find one by mDNS');
    const local = advertiseAddr(b, config);
    if (swarm.active) throw new ApiError(503, ALREADY_IN_SWARM); // before spending seconds on discovery
    // shoal's: with no address, a manager of the token's swarm found by mDNS (ManagerAddr says which)
    const found = remotes.length === 0 ? await discoverManager(token, local, mdnsLog) : undefined;
    const role = await swarm.join({ remote: found ?? (remotes[0] as string), token, advertiseAddr: local, listenPort: listenPort(optString(b, 'ListenAddr')) });
    return { body: { Role: role, ...(found ? { ManagerAddr: found } : {}) } };
  }));

  router.add('POST', '/swarm/leave', swarmHandler(async (req) => {
    await swarm.leave(['1', 'true'].includes(req.query.get('force') ?? ''));
    return { body: '' };
  }));

  router.add('GET', '/swarm', swarmHandler(() => {
    swarm.requireManager();
    const s = swarm.clusterSettings()!;
    const g = s.gossip;
    return {
      body: {
        ID: s.id, Version: { Index: swarm.settingsIndex() }, CreatedAt: s.createdAt, JoinTokens: swarm.joinTokens(), DefaultAddrPool: s.defaultAddrPool, SubnetSize: s.subnetSize, Spec: specView(s),
        // shoal's: the desired gossip keyring, as fingerprints (the keys themselves never leave the store)
        GossipKeyring: { Keys: g.keys.map(fingerprint), Primary: fingerprint(g.primary), Rotation: g.rotation ? { Phase: g.rotation.phase, Since: g.rotation.since } : null, RotatedAt: g.rotatedAt },
      },
    };
  }));

  // Docker's swarm update: the docker CLI sends the Spec it read with its changes (shoal keeps
  // CAConfig.NodeCertExpiry) and rotates join tokens through it; rotateGossipKey is shoal's.
  router.add('POST', '/swarm/update', swarmHandler(async (req) => {
    swarm.requireManager();
    const certExpiryMs = certExpiryOf(body(req));
    const version = req.query.get('version');
    if (version !== null && Number(version) !== swarm.settingsIndex()) throw new ApiError(409, `update out of sequence: the swarm is at version ${swarm.settingsIndex()}, not ${version}; read it again and retry`);
    if (certExpiryMs !== undefined) await swarm.setCertExpiry(certExpiryMs);
    const flag = (name: string) => ['1', 'true'].includes(req.query.get(name) ?? '');
    if (flag('rotateWorkerToken')) await swarm.rotateToken('worker');
    if (flag('rotateManagerToken')) await swarm.rotateToken('manager');
    if (flag('rotateGossipKey')) await swarm.rotateGossipKey();
    return { body: '' };
  }));

  router.add('POST', '/swarm/join-token/{role}/rotate', swarmHandler(async (req) => {
    swarm.requireManager();
    const role = req.params.role;
    if (role !== 'worker' && role !== 'manager') throw new ApiError(400, `unknown role '${role}': use worker or manager`);
    await swarm.rotateToken(role);
    return { body: swarm.joinTokens() };
  }));

  router.add('GET', '/info', () => {
    const nodes = swarm.nodeRecords();
    const me = nodes.find((n) => n.id === swarm.nodeId);
    return {
      body: {
        Name: config.nodeName,
        ServerVersion: packageVersion,
        OperatingSystem: 'linux',
        // shoal's: which load balancer programs VIPs and the routing mesh on this node, and why
        LoadBalancer: lb() ? { Backend: lb()!.kind, Reason: lb()!.reason } : null,
        Swarm: swarm.active
          ? { NodeID: swarm.nodeId, NodeAddr: swarm.selfAddr(), LocalNodeState: 'active', ControlAvailable: me?.role === 'manager', Error: '', Nodes: nodes.length, Managers: nodes.filter((n) => n.role === 'manager').length, Cluster: clusterInfo(swarm, me?.role === 'manager'), GossipKeyring: keyringView(swarm), RefusedGossipEntries: swarm.refusedEntries() }
          : { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '' },
      },
    };
  });

  const nodeView = (n: NodeRecord, index: number, leader: string | undefined) => {
    const state = swarm.nodeState(n.id);
    return {
      ID: n.id,
      Version: { Index: index },
      CreatedAt: n.createdAt,
      UpdatedAt: n.updatedAt,
      Spec: { Role: n.role, Availability: n.availability, Labels: n.labels },
      Description: { Hostname: n.hostname, Engine: { EngineVersion: n.engineVersion } },
      Status: { State: state, Addr: n.addr },
      ...(n.role === 'manager' ? { ManagerStatus: { Leader: n.id === leader, Reachability: swarm.managerReachability(n.id), Addr: `${n.addr}:2377` } } : {}),
    };
  };

  router.add('GET', '/nodes/{id}', swarmHandler((req) => {
    swarm.requireManager();
    const { record, index } = swarm.resolveNode(req.params.id!);
    return { body: nodeView(record, index, swarm.leaderId()) };
  }));

  router.add('POST', '/nodes/{id}/update', swarmHandler(async (req) => {
    swarm.requireManager();
    const version = Number(req.query.get('version'));
    if (!Number.isSafeInteger(version)) throw new ApiError(400, 'the version query parameter is required: read the node (its Version.Index) and pass it back');
    const b = body(req);
    const role = b.Role ?? 'worker';
    const availability = b.Availability ?? 'active';
    if (role !== 'manager' && role !== 'worker') throw new ApiError(400, `invalid Role '${String(role)}': use manager or worker`);
    if (!['active', 'pause', 'drain'].includes(availability as string)) throw new ApiError(400, `invalid Availability '${String(availability)}': use active, pause or drain`);
    const labels = b.Labels ?? {};
    if (typeof labels !== 'object' || labels === null || Array.isArray(labels) || Object.values(labels).some((v) => typeof v !== 'string')) throw new ApiError(400, 'Labels must be an object of strings');
    await swarm.updateNode(req.params.id!, version, { role, availability: availability as 'active' | 'pause' | 'drain', labels: labels as Record<string, string> });
    return { body: '' };
  }));

  router.add('DELETE', '/nodes/{id}', swarmHandler(async (req) => {
    swarm.requireManager();
    await swarm.removeNode(req.params.id!, ['1', 'true'].includes(req.query.get('force') ?? ''));
    return { body: '' };
  }));

  router.add('GET', '/nodes', swarmHandler(() => {
    swarm.requireManager();
    const leader = swarm.leaderId();
    return { body: swarm.nodeEntries().map(({ record, index }) => nodeView(record, index, leader)) };
  }));
}
