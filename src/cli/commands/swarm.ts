// `shoal swarm init|join|join-token|leave`, `shoal info` and `shoal node ls`, printing what Docker prints.
import type { ApiClient } from '../client.js';
import { emit, filterFlags, labelsMatch, listFormat, printInspect, renderList } from '../format.js';
import type { OutputFormat } from '../output.js';
import { naturalLess, nodeHeaders, nodeListFormats, nodeRow } from '../rows.js';
import { NodeType } from '../template/docker-types.js';
import { printTasks, type TaskJson } from './service.js';
import { humanDuration, parseDuration } from '../time.js';

type Out = (s: string) => void;

function joinCommandText(token: string, addr: string): string {
  return `    shoal swarm join --token ${token} ${addr}`;
}

async function managerAddr(client: ApiClient): Promise<string> {
  const info = (await client.get<{ Swarm: { NodeAddr: string } }>('/info')).body;
  return `${info.Swarm.NodeAddr}:2377`;
}

export async function swarmInit(client: ApiClient, o: { advertiseAddr?: string; listenAddr?: string; defaultAddrPool?: string[]; maskLength?: string; forceNewCluster?: boolean; certExpiry?: string }, out: Out): Promise<void> {
  const certExpiry = o.certExpiry === undefined ? undefined : parseDuration(o.certExpiry, '--cert-expiry');
  const id = (await client.request<string>('POST', '/swarm/init', {
    AdvertiseAddr: o.advertiseAddr, ListenAddr: o.listenAddr, DefaultAddrPool: o.defaultAddrPool, SubnetSize: o.maskLength === undefined ? undefined : Number(o.maskLength),
    ...(o.forceNewCluster ? { ForceNewCluster: true } : {}),
    ...(certExpiry !== undefined ? { Spec: { CAConfig: { NodeCertExpiry: certExpiry } } } : {}),
  })).body;
  const tokens = (await client.get<{ JoinTokens: { Worker: string } }>('/swarm')).body.JoinTokens;
  out(`Swarm initialized: current node (${id}) is now a manager.\n`);
  out('To add a worker to this swarm, run the following command:\n');
  out(joinCommandText(tokens.Worker, await managerAddr(client)) + '\n');
  out("To add a manager to this swarm, run 'shoal swarm join-token manager' and follow the instructions.\n");
}

/** With no `remote`, the agent finds a manager by mDNS and says which (ManagerAddr, shoal's). */
export async function swarmJoin(client: ApiClient, o: { token: string; advertiseAddr?: string; listenAddr?: string }, remote: string | undefined, out: Out): Promise<void> {
  const r = (await client.request<{ Role: string; ManagerAddr?: string }>('POST', '/swarm/join', { JoinToken: o.token, RemoteAddrs: remote ? [remote] : [], AdvertiseAddr: o.advertiseAddr, ListenAddr: o.listenAddr })).body;
  if (r.ManagerAddr) out(`found manager ${r.ManagerAddr} by mDNS`);
  out(`This node joined a swarm as a ${r.Role}.`);
}

export async function swarmJoinToken(client: ApiClient, role: string, o: { quiet?: boolean; rotate?: boolean }, out: Out): Promise<void> {
  if (role !== 'worker' && role !== 'manager') throw new Error(`unknown role ${role}: use worker or manager`);
  if (o.rotate) await client.request('POST', `/swarm/join-token/${role}/rotate`);
  const tokens = (await client.get<{ JoinTokens: { Worker: string; Manager: string } }>('/swarm')).body.JoinTokens;
  const token = role === 'worker' ? tokens.Worker : tokens.Manager;
  if (o.quiet) return out(token);
  if (o.rotate) out(`Successfully rotated ${role} join token.\n`);
  out(`To add a ${role} to this swarm, run the following command:\n`);
  out(joinCommandText(token, await managerAddr(client)) + '\n');
}

/**
 * `shoal swarm update [--cert-expiry DURATION] [--rotate-gossip-key]`: as Docker's, the Spec is read,
 * changed and sent back with its version ("Swarm updated."); a gossip key rotation starts and, unless
 * detached, is waited for.
 */
export async function swarmUpdate(client: ApiClient, o: { rotateGossipKey?: boolean; detach?: boolean; certExpiry?: string }, out: Out): Promise<void> {
  if (!o.rotateGossipKey && o.certExpiry === undefined) throw new Error('nothing to update: give --cert-expiry DURATION or --rotate-gossip-key');
  if (o.certExpiry !== undefined) {
    const ns = parseDuration(o.certExpiry, '--cert-expiry');
    const sw = (await client.get<{ Version: { Index: number }; Spec: { CAConfig?: Record<string, unknown> } & Record<string, unknown> }>('/swarm')).body;
    await client.request('POST', `/swarm/update?version=${sw.Version.Index}`, { ...sw.Spec, CAConfig: { ...sw.Spec.CAConfig, NodeCertExpiry: ns } });
    out('Swarm updated.');
  }
  if (!o.rotateGossipKey) return;
  const before = (await client.get<SwarmView>('/swarm')).body.GossipKeyring.Primary;
  await client.request('POST', '/swarm/update?rotateGossipKey=true');
  if (o.detach) return out('Gossip key rotation started.');
  const deadline = Date.now() + 60_000;
  for (;;) {
    const k = (await client.get<SwarmView>('/swarm')).body.GossipKeyring;
    if (!k.Rotation && k.Primary !== before) return out(`Gossip key rotated: every node now encrypts with ${k.Primary}.`);
    if (Date.now() > deadline) throw new Error(`the gossip key rotation has not finished after 60 s (phase ${k.Rotation?.Phase ?? '?'}): a node that is up has not confirmed the new key; it goes on by itself once that node does`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface SwarmView { GossipKeyring: { Keys: string[]; Primary: string; Rotation: { Phase: string; Since: string } | null } }

export async function swarmLeave(client: ApiClient, force: boolean, out: Out): Promise<void> {
  await client.request('POST', `/swarm/leave${force ? '?force=1' : ''}`);
  out('Node left the swarm.');
}

interface InfoView { Name: string; ServerVersion: string; LoadBalancer?: { Backend: string; Reason: string } | null; Swarm: { LocalNodeState: string; NodeID: string; NodeAddr: string; ControlAvailable: boolean; Nodes?: number; Managers?: number; Cluster?: { ID: string; Spec?: { CAConfig?: { NodeCertExpiry?: number } }; TLSInfo?: { TrustRoot?: string; CertIssuerSubject?: string; CertIssuerPublicKey?: string } }; GossipKeyring?: { Keys: string[]; Primary: string } } }

export async function infoCommand(client: ApiClient, format: OutputFormat, out: Out): Promise<void> {
  const info = (await client.get<InfoView>('/info')).body;
  if (format === 'json') return out(JSON.stringify(info, null, 2));
  const s = info.Swarm;
  const lines = [`Server:`, ` Name: ${info.Name}`, ` Server Version: ${info.ServerVersion}`];
  if (info.LoadBalancer) lines.push(` Load Balancer: ${info.LoadBalancer.Reason}`);
  lines.push(` Swarm: ${s.LocalNodeState}`);
  if (s.LocalNodeState === 'active') {
    lines.push(`  NodeID: ${s.NodeID}`, `  Is Manager: ${s.ControlAvailable}`);
    if (s.ControlAvailable) lines.push(`  ClusterID: ${s.Cluster?.ID ?? ''}`, `  Managers: ${s.Managers}`, `  Nodes: ${s.Nodes}`);
    const expiry = s.Cluster?.Spec?.CAConfig?.NodeCertExpiry;
    if (s.ControlAvailable && expiry !== undefined) lines.push('  CA Configuration:', `   Expiry Duration: ${humanDuration(expiry / 1e6)}`);
    lines.push(`  Node Address: ${s.NodeAddr}`);
    if (s.GossipKeyring) lines.push(`  Gossip Keys: ${s.GossipKeyring.Keys.length} (encrypting with ${s.GossipKeyring.Primary})`);
  }
  out(lines.join('\n'));
}

interface NodeView { ID: string; Spec: { Role: string; Availability: string; Labels?: Record<string, string> }; Description: { Hostname: string; Engine: { EngineVersion: string; Labels?: Record<string, string> } }; Status: { State: string }; ManagerStatus?: { Leader: boolean; Reachability: string } }

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export async function nodeLs(client: ApiClient, o: { format?: string; quiet?: boolean; filter?: string[] }, out: Out): Promise<void> {
  const f = filterFlags(o.filter, ['id', 'name', 'role', 'node.label', 'label']);
  for (const r of f.role ?? []) if (r !== 'manager' && r !== 'worker') throw new Error(`invalid --filter 'role=${r}': use role=manager or role=worker`);
  const nodes = (await client.get<NodeView[]>('/nodes')).body.filter((n) =>
    (!f.id || f.id.some((x) => n.ID.startsWith(x))) && (!f.name || f.name.some((x) => n.Description.Hostname.startsWith(x))) &&
    (!f.role || f.role.includes(n.Spec.Role)) && labelsMatch(n.Spec.Labels, f['node.label']) && labelsMatch(n.Description.Engine.Labels, f.label));
  if (o.format === 'json') return out(JSON.stringify(nodes, null, 2));
  // As Docker: the node we talk to (for .Self and the `*`) is only looked up when there is a table to show.
  const info = nodes.length > 0 && !o.quiet ? (await client.get<InfoView>('/info')).body : undefined;
  const rows = [...nodes].sort((a, b) => naturalLess(a.Description.Hostname, b.Description.Hostname)).map((n) => nodeRow(n, info?.Swarm.NodeID ?? '', info?.Swarm.Cluster?.TLSInfo));
  emit(out, renderList(listFormat(o.format, o.quiet === true, nodeListFormats), rows, nodeHeaders));
}

/** `shoal node ps [NODE...]`: the tasks on the nodes (default: this one), as `service ps` shows them. */
export async function nodePs(client: ApiClient, names: string[], o: { trunc: boolean; quiet?: boolean; filter?: string[]; format?: string }, out: Out): Promise<void> {
  const filters = filterFlags(o.filter, ['desired-state', 'id']);
  const tasks: TaskJson[] = [];
  const errors: string[] = [];
  for (const name of names.length > 0 ? names : ['self']) {
    try {
      const n = await getNode(client, name);
      tasks.push(...(await client.get<TaskJson[]>(`/tasks?filters=${encodeURIComponent(JSON.stringify({ ...filters, node: [n.ID] }))}`)).body);
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  if (errors.length === 0 || tasks.length > 0) {
    if (o.format === 'json') out(JSON.stringify(tasks, null, 2));
    else {
      const services = (await client.get<{ ID: string; Spec: { Name: string } }[]>('/services')).body;
      printTasks(out, tasks, new Map(services.map((s) => [s.ID, s.Spec.Name])), o);
    }
  }
  if (errors.length > 0) throw new Error(errors.join('\n'));
}

interface NodeDetail extends NodeView {
  Version: { Index: number };
  CreatedAt: string;
  Spec: { Role: string; Availability: string; Labels: Record<string, string> };
  Status: { State: string; Addr: string };
  ManagerStatus?: { Leader: boolean; Reachability: string; Addr: string };
}

/** `self` names the node we talk to, as in Docker. */
async function nodeRef(client: ApiClient, name: string): Promise<string> {
  if (name !== 'self') return name;
  return (await client.get<InfoView>('/info')).body.Swarm.NodeID;
}

async function getNode(client: ApiClient, name: string): Promise<NodeDetail> {
  return (await client.get<NodeDetail>(`/nodes/${encodeURIComponent(await nodeRef(client, name))}`)).body;
}

export async function nodeInspect(client: ApiClient, names: string[], o: { pretty?: boolean; format?: string }, out: Out): Promise<void> {
  const nodes: NodeDetail[] = [];
  const missing: string[] = [];
  for (const n of names) {
    try {
      nodes.push(await getNode(client, n));
    } catch (err) {
      missing.push(`Error: ${(err as Error).message}`);
    }
  }
  if (!o.pretty && o.format !== 'pretty') return printInspect(out, o.format, nodes, NodeType, missing);
  out(nodes.map((n) => [
    `ID:\t\t\t${n.ID}`,
    ...(Object.keys(n.Spec.Labels).length > 0 ? ['Labels:', ...Object.entries(n.Spec.Labels).map(([k, v]) => ` - ${k}=${v}`)] : []),
    `Hostname:\t\t${n.Description.Hostname}`,
    `Joined at:\t\t${n.CreatedAt}`,
    'Status:',
    ` State:\t\t\t${cap(n.Status.State)}`,
    ` Availability:\t\t${cap(n.Spec.Availability)}`,
    ` Address:\t\t${n.Status.Addr}`,
    ...(n.ManagerStatus ? ['Manager Status:', ` Address:\t\t${n.ManagerStatus.Addr}`, ` Raft Status:\t\t${cap(n.ManagerStatus.Reachability)}`, ` Leader:\t\t${n.ManagerStatus.Leader ? 'Yes' : 'No'}`] : []),
    `Engine Version:\t\t${n.Description.Engine.EngineVersion}`,
  ].join('\n')).join('\n\n'));
  if (missing.length > 0) throw new Error(missing.map((m) => m.replace(/^Error: /, '')).join('\n'));
}

export interface NodeUpdate {
  availability?: string;
  role?: string;
  labelAdd?: string[];
  labelRm?: string[];
}

export async function nodeUpdate(client: ApiClient, name: string, u: NodeUpdate, out: Out): Promise<void> {
  const n = await getNode(client, name);
  const labels = { ...n.Spec.Labels };
  for (const kv of u.labelAdd ?? []) {
    const i = kv.indexOf('=');
    const [k, v] = i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)];
    if (k === '') throw new Error(`invalid label '${kv}': use key=value`);
    labels[k] = v;
  }
  for (const k of u.labelRm ?? []) {
    if (!(k in labels)) throw new Error(`key ${k} doesn't exist in node's labels`);
    delete labels[k];
  }
  await client.request('POST', `/nodes/${n.ID}/update?version=${n.Version.Index}`, { Role: u.role ?? n.Spec.Role, Availability: u.availability ?? n.Spec.Availability, Labels: labels });
  out(name);
}

export async function nodeSetRole(client: ApiClient, names: string[], role: 'manager' | 'worker', out: Out): Promise<void> {
  for (const name of names) {
    const n = await getNode(client, name);
    if (n.Spec.Role === role) {
      out(`Node ${name} is already a ${role}.`);
      continue;
    }
    await client.request('POST', `/nodes/${n.ID}/update?version=${n.Version.Index}`, { ...n.Spec, Role: role });
    out(role === 'manager' ? `Node ${name} promoted to a manager in the swarm.` : `Manager ${name} demoted in the swarm.`);
  }
}

export async function nodeRm(client: ApiClient, names: string[], force: boolean, out: Out): Promise<void> {
  for (const name of names) {
    await client.request('DELETE', `/nodes/${encodeURIComponent(name)}${force ? '?force=1' : ''}`);
    out(name);
  }
}
