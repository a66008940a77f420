// `shoal swarm init|join|join-token|leave`, `shoal info` and `shoal node ls`, printing what Docker prints.
import type { ApiClient } from '../client.js';
import type { OutputFormat } from '../output.js';
import { table } from '../table.js';

type Out = (s: string) => void;

function joinCommandText(token: string, addr: string): string {
  return `    shoal swarm join --token ${token} ${addr}`;
}

async function managerAddr(client: ApiClient): Promise<string> {
  const info = (await client.get<{ Swarm: { NodeAddr: string } }>('/info')).body;
  return `${info.Swarm.NodeAddr}:2377`;
}

export async function swarmInit(client: ApiClient, o: { advertiseAddr?: string; listenAddr?: string; defaultAddrPool?: string[]; maskLength?: string }, out: Out): Promise<void> {
  const id = (await client.request<string>('POST', '/swarm/init', {
    AdvertiseAddr: o.advertiseAddr, ListenAddr: o.listenAddr, DefaultAddrPool: o.defaultAddrPool, SubnetSize: o.maskLength === undefined ? undefined : Number(o.maskLength),
  })).body;
  const tokens = (await client.get<{ JoinTokens: { Worker: string } }>('/swarm')).body.JoinTokens;
  out(`Swarm initialized: current node (${id}) is now a manager.\n`);
  out('To add a worker to this swarm, run the following command:\n');
  out(joinCommandText(tokens.Worker, await managerAddr(client)) + '\n');
  out("To add a manager to this swarm, run 'shoal swarm join-token manager' and follow the instructions.\n");
}

export async function swarmJoin(client: ApiClient, o: { token: string; advertiseAddr?: string; listenAddr?: string }, remote: string, out: Out): Promise<void> {
  const r = (await client.request<{ Role: string }>('POST', '/swarm/join', { JoinToken: o.token, RemoteAddrs: [remote], AdvertiseAddr: o.advertiseAddr, ListenAddr: o.listenAddr })).body;
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

export async function swarmLeave(client: ApiClient, force: boolean, out: Out): Promise<void> {
  await client.request('POST', `/swarm/leave${force ? '?force=1' : ''}`);
  out('Node left the swarm.');
}

interface InfoView { Name: string; ServerVersion: string; Swarm: { LocalNodeState: string; NodeID: string; NodeAddr: string; ControlAvailable: boolean; Nodes?: number; Managers?: number; Cluster?: { ID: string } } }

export async function infoCommand(client: ApiClient, format: OutputFormat, out: Out): Promise<void> {
  const info = (await client.get<InfoView>('/info')).body;
  if (format === 'json') return out(JSON.stringify(info, null, 2));
  const s = info.Swarm;
  const lines = [`Server:`, ` Name: ${info.Name}`, ` Server Version: ${info.ServerVersion}`, ` Swarm: ${s.LocalNodeState}`];
  if (s.LocalNodeState === 'active') {
    lines.push(`  NodeID: ${s.NodeID}`, `  Is Manager: ${s.ControlAvailable}`);
    if (s.ControlAvailable) lines.push(`  ClusterID: ${s.Cluster?.ID ?? ''}`, `  Managers: ${s.Managers}`, `  Nodes: ${s.Nodes}`);
    lines.push(`  Node Address: ${s.NodeAddr}`);
  }
  out(lines.join('\n'));
}

interface NodeView { ID: string; Spec: { Role: string; Availability: string }; Description: { Hostname: string; Engine: { EngineVersion: string } }; Status: { State: string }; ManagerStatus?: { Leader: boolean; Reachability: string } }

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export async function nodeLs(client: ApiClient, format: OutputFormat, out: Out): Promise<void> {
  const nodes = (await client.get<NodeView[]>('/nodes')).body;
  if (format === 'json') return out(JSON.stringify(nodes, null, 2));
  const self = (await client.get<InfoView>('/info')).body.Swarm.NodeID;
  const rows = [...nodes].sort((a, b) => a.Description.Hostname.localeCompare(b.Description.Hostname)).map((n) => [
    n.ID + (n.ID === self ? ' *' : ''),
    n.Description.Hostname,
    cap(n.Status.State),
    cap(n.Spec.Availability),
    n.ManagerStatus ? (n.ManagerStatus.Leader ? 'Leader' : cap(n.ManagerStatus.Reachability)) : '',
    n.Description.Engine.EngineVersion,
  ]);
  out(table(['ID', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'MANAGER STATUS', 'ENGINE VERSION'], rows));
}
