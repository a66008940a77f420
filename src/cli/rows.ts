// The row objects `--format` templates see in listings, with Docker's field names and values
// (`service ls`: ID Name Mode Replicas Image Ports; `service ps`/`node ps`: ID Name Image Node
// DesiredState CurrentState Error Ports; `node ls`: ID Self Hostname Status Availability ManagerStatus
// EngineVersion TLSStatus; `network ls`: ID Name Driver Scope IPv6 Internal Labels CreatedAt and
// `.Label "key"`), the column titles of each, and Docker's default and raw formats.
import type { ListFormats } from './format.js';
import { humanDuration } from './time.js';
import { goTime, T, val, type Field, type GoType, type Val } from './template/values.js';

type Json = Record<string, any>;

function rowVal(name: string, fields: [string, GoType, unknown][]): Val {
  const f: Field[] = fields.map(([n, t]) => ({ name: n, type: t }));
  return val({ kind: 'struct', name, fields: f, rowContext: true }, Object.fromEntries(fields.map(([n, , v]) => [n, v])));
}

const capFirst = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const truncId = (id: string) => id.slice(0, 12);

/** reference.FamiliarString of a tagged image with any digest stripped ("docker.io/library/nginx:1@sha256:.." -> "nginx:1"). */
export function displayImage(image: string): string {
  const m = /^(.*?)(?::([\w][\w.-]{0,127}))?(?:@[a-z0-9]+:[0-9a-fA-F]+)?$/.exec(image);
  if (!m || m[2] === undefined || m[1]!.endsWith('/')) return image;
  let name = m[1]!;
  if (name.startsWith('docker.io/') || name.startsWith('index.docker.io/')) name = name.replace(/^(index\.)?docker\.io\//, '').replace(/^library\//, '');
  return `${name}:${m[2]}`;
}

/** Docker's Go `Ellipsis`: at most `max` characters, the last one `…` when cut. */
export function ellipsis(s: string, max: number): string {
  const chars = [...s];
  if (chars.length <= max) return s;
  return chars.slice(0, max - 1).join('') + '…';
}

// ---- service ls ----

export const serviceListFormats: ListFormats = {
  table: 'table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}',
  raw: 'id: {{.ID}}\\nname: {{.Name}}\\nmode: {{.Mode}}\\nreplicas: {{.Replicas}}\\nimage: {{.Image}}\\nports: {{.Ports}}\\n',
  rawQuiet: 'id: {{.ID}}',
};
export const serviceHeaders = { ID: 'ID', Name: 'NAME', Mode: 'MODE', Replicas: 'REPLICAS', Image: 'IMAGE', Ports: 'PORTS' };

function serviceMode(s: Json): string {
  const m = s.Spec?.Mode ?? {};
  if (m.Global) return 'global';
  if (m.Replicated) return 'replicated';
  if (m.ReplicatedJob) return 'replicated job';
  if (m.GlobalJob) return 'global job';
  return '';
}

/** The published ingress ports, consecutive ones grouped into ranges as Docker does (*:80-81->80-81/tcp). */
export function servicePorts(ports: Json[] | undefined): string {
  if (!ports) return '';
  const sorted = [...ports].sort((a, b) => (a.Protocol === b.Protocol ? a.PublishedPort - b.PublishedPort : a.Protocol < b.Protocol ? -1 : 1));
  const out: string[] = [];
  let r = { pStart: 0, pEnd: 0, tStart: 0, tEnd: 0, protocol: '' };
  const text = () => `*:${r.pEnd > r.pStart ? `${r.pStart}-${r.pEnd}` : r.pStart}->${r.tEnd > r.tStart ? `${r.tStart}-${r.tEnd}` : r.tStart}/${r.protocol}`;
  for (const p of sorted) {
    if ((p.PublishMode ?? 'ingress') !== 'ingress') continue;
    const isRange = r.tEnd !== r.tStart;
    const overlaps = p.TargetPort <= r.tEnd;
    // Docker compares uint32 differences: a port below the range's end wraps around to "not consecutive".
    const gap = (x: number, end: number) => x < end || x - end > 1;
    if (p.Protocol !== r.protocol || gap(p.PublishedPort, r.pEnd) || gap(p.TargetPort, r.tEnd) || (isRange && overlaps)) {
      if (r.pStart > 0) out.push(text());
      r = { pStart: p.PublishedPort, pEnd: p.PublishedPort, tStart: p.TargetPort, tEnd: p.TargetPort, protocol: p.Protocol };
      continue;
    }
    r.pEnd = p.PublishedPort;
    r.tEnd = p.TargetPort;
  }
  if (r.pStart > 0) out.push(text());
  return out.join(', ');
}

export function serviceRow(s: Json): Val {
  const running = s.ServiceStatus?.RunningTasks ?? 0;
  const desired = s.ServiceStatus?.DesiredTasks ?? 0;
  const mode = serviceMode(s);
  const max = mode === 'replicated' ? s.Spec?.TaskTemplate?.Placement?.MaxReplicas ?? 0 : 0;
  const completed = s.ServiceStatus?.CompletedTasks ?? 0;
  let replicas = max > 0 ? `${running}/${desired} (max ${max} per node)` : `${running}/${desired}`;
  if (mode === 'replicated job') replicas = `${running}/${desired} (${completed}/${s.Spec.Mode.ReplicatedJob.TotalCompletions ?? 0} completed)`;
  if (mode === 'global job') replicas = `${running}/${desired} (${completed}/${desired + completed} completed)`;
  return rowVal('*service.serviceContext', [
    ['ID', T.string, truncId(s.ID)],
    ['Name', T.string, s.Spec?.Name ?? ''],
    ['Mode', T.string, mode],
    ['Replicas', T.string, replicas],
    ['Image', T.string, displayImage(s.Spec?.TaskTemplate?.ContainerSpec?.Image ?? '')],
    ['Ports', T.string, servicePorts(s.Endpoint?.Ports)],
  ]);
}

/** Go's sortorder.NaturalLess: digit runs compare as numbers. */
export function naturalLess(a: string, b: string): number {
  const re = /(\d+|\D+)/g;
  const xa = a.match(re) ?? [];
  const xb = b.match(re) ?? [];
  for (let i = 0; i < Math.min(xa.length, xb.length); i++) {
    const p = xa[i]!;
    const q = xb[i]!;
    if (p === q) continue;
    const pd = /^\d/.test(p);
    const qd = /^\d/.test(q);
    if (pd && qd) {
      const pn = p.replace(/^0+/, '');
      const qn = q.replace(/^0+/, '');
      if (pn.length !== qn.length) return pn.length - qn.length;
      if (pn !== qn) return pn < qn ? -1 : 1;
      return p.length - q.length;
    }
    return p < q ? -1 : 1;
  }
  return xa.length - xb.length;
}

// ---- service ps / node ps ----

export const taskListFormats: ListFormats = {
  table: 'table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}\t{{.Ports}}',
  raw: 'id: {{.ID}}\\nname: {{.Name}}\\nimage: {{.Image}}\\nnode: {{.Node}}\\ndesired_state: {{.DesiredState}}\\ncurrent_state: {{.CurrentState}}\\nerror: {{.Error}}\\nports: {{.Ports}}\\n',
  rawQuiet: 'id: {{.ID}}',
};
export const taskHeaders = { ID: 'ID', Name: 'NAME', Image: 'IMAGE', Node: 'NODE', DesiredState: 'DESIRED STATE', CurrentState: 'CURRENT STATE', Error: 'ERROR', Ports: 'PORTS' };

/**
 * Docker's task rows: each named service.slot (or service.nodeID for global tasks), sorted by name
 * (naturally) and newest first; in a table, older tasks of a name are indented as ` \_ name` history.
 */
export function taskRows(tasks: Json[], serviceNames: Map<string, string>, o: { trunc: boolean; table: boolean; now?: number }): Val[] {
  const now = o.now ?? Date.now();
  const named = tasks.map((t) => {
    const svc = serviceNames.get(t.ServiceID) ?? t.ServiceID;
    return { t, name: t.Slot ? `${svc}.${t.Slot}` : `${svc}.${t.NodeID}` };
  });
  named.sort((a, b) => (a.name !== b.name ? naturalLess(a.name, b.name) : Date.parse(b.t.CreatedAt) - Date.parse(a.t.CreatedAt)));
  let prev = '';
  return named.map(({ t, name }) => {
    const shown = name === prev && o.table ? ` \\_ ${name}` : name;
    prev = name;
    const err = o.trunc ? ellipsis(t.Status?.Err ?? '', 30) : t.Status?.Err ?? '';
    const ports = (t.Status?.PortStatus?.Ports ?? []) as Json[];
    const image = t.Spec?.ContainerSpec?.Image ?? '';
    return rowVal('*task.taskContext', [
      ['ID', T.string, o.trunc ? truncId(t.ID) : t.ID],
      ['Name', T.string, shown],
      ['Image', T.string, o.trunc ? displayImage(image) : image],
      ['Node', T.string, t.NodeName ?? t.NodeID ?? ''],
      ['DesiredState', T.string, capFirst(t.DesiredState ?? '')],
      ['CurrentState', T.string, `${capFirst(t.Status?.State ?? '')} ${humanDuration(Math.max(0, now - Date.parse(t.Status?.Timestamp ?? ''))).toLowerCase()} ago`],
      ['Error', T.string, err ? `"${err}"` : ''],
      ['Ports', T.string, ports.map((p) => `*:${p.PublishedPort}->${p.TargetPort}/${p.Protocol}`).join(',')],
    ]);
  });
}

// ---- node ls ----

export const nodeListFormats: ListFormats = {
  table: 'table {{.ID}} {{if .Self}}*{{else}} {{ end }}\t{{.Hostname}}\t{{.Status}}\t{{.Availability}}\t{{.ManagerStatus}}\t{{.EngineVersion}}',
  raw: 'node_id: {{.ID}}\\nhostname: {{.Hostname}}\\nstatus: {{.Status}}\\navailability: {{.Availability}}\\nmanager_status: {{.ManagerStatus}}\\n',
  rawQuiet: 'node_id: {{.ID}}',
};
export const nodeHeaders = { ID: 'ID', Self: '', Hostname: 'HOSTNAME', Status: 'STATUS', Availability: 'AVAILABILITY', ManagerStatus: 'MANAGER STATUS', EngineVersion: 'ENGINE VERSION', TLSStatus: 'TLS STATUS' };

interface TlsInfo { TrustRoot?: string; CertIssuerSubject?: string; CertIssuerPublicKey?: string }
const emptyTls = (t: TlsInfo | undefined) => !t || (!t.TrustRoot && !t.CertIssuerSubject && !t.CertIssuerPublicKey);

export function nodeRow(n: Json, self: string, clusterTls?: TlsInfo): Val {
  const tls: TlsInfo | undefined = n.Description?.TLSInfo;
  const tlsStatus = emptyTls(clusterTls) || emptyTls(tls) ? 'Unknown'
    : tls!.TrustRoot === clusterTls!.TrustRoot && tls!.CertIssuerSubject === clusterTls!.CertIssuerSubject && tls!.CertIssuerPublicKey === clusterTls!.CertIssuerPublicKey ? 'Ready' : 'Needs Rotation';
  const ms = n.ManagerStatus;
  return rowVal('*node.nodeContext', [
    ['ID', T.string, n.ID],
    ['Self', T.bool, n.ID === self],
    ['Hostname', T.string, n.Description?.Hostname ?? ''],
    ['Status', T.string, capFirst(n.Status?.State ?? '')],
    ['Availability', T.string, capFirst(n.Spec?.Availability ?? '')],
    ['ManagerStatus', T.string, capFirst(ms ? (ms.Leader ? 'Leader' : ms.Reachability ?? '') : '')],
    ['EngineVersion', T.string, n.Description?.Engine?.EngineVersion ?? ''],
    ['TLSStatus', T.string, tlsStatus],
  ]);
}

// ---- network ls ----

export const networkListFormats: ListFormats = {
  table: 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}',
  raw: 'network_id: {{.ID}}\\nname: {{.Name}}\\ndriver: {{.Driver}}\\nscope: {{.Scope}}\\n',
  rawQuiet: 'network_id: {{.ID}}',
};
export const networkHeaders = { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', IPv6: 'IPV6', Internal: 'INTERNAL', Labels: 'LABELS', CreatedAt: 'CREATED AT' };

export function networkRow(n: Json, trunc: boolean): Val {
  const labels = (n.Labels ?? null) as Record<string, string> | null;
  const label: GoType = { kind: 'func', name: 'Label', params: ['string'], result: T.string, fn: (k) => labels?.[String(k.v)] ?? '' };
  return rowVal('*network.networkContext', [
    ['ID', T.string, trunc ? truncId(n.Id) : n.Id],
    ['Name', T.string, n.Name],
    ['Driver', T.string, n.Driver],
    ['Scope', T.string, n.Scope],
    ['IPv6', T.string, String(n.EnableIPv6 === true)],
    ['Internal', T.string, String(n.Internal === true)],
    ['Labels', T.string, labels ? Object.entries(labels).map(([k, v]) => `${k}=${v}`).sort().join(',') : ''],
    ['Label', label, undefined],
    ['CreatedAt', T.string, n.Created ? goTime(n.Created) : '0001-01-01 00:00:00 +0000 UTC'],
  ]);
}
