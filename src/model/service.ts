// Services as the cluster stores them: Docker's ServiceSpec (the subset shoal runs), checked and
// completed with Docker's defaults before anything is written, so an invalid spec is refused with
// a message naming the field; what the leader allocates for a service (`service-endpoints`: VIPs
// and published ports); and placement constraints.
import { isIPv4 } from 'node:net';
import { checkObjectName } from './names.js';

/** Nanoseconds, as Docker's API carries durations. */
export type Nanos = number;

export interface PortConfig {
  Name?: string;
  Protocol: 'tcp' | 'udp';
  TargetPort: number;
  /** 0 asks the allocator for one (30000-32767). */
  PublishedPort: number;
  PublishMode: 'ingress' | 'host';
}

export interface ServiceSpec {
  Name: string;
  Labels: Record<string, string>;
  TaskTemplate: {
    ContainerSpec: {
      Image: string;
      Command?: string[];
      Args?: string[];
      Env?: string[];
      Hostname?: string;
      Dir?: string;
      Labels?: Record<string, string>;
      StopGracePeriod?: Nanos;
    };
    RestartPolicy: { Condition: 'none' | 'on-failure' | 'any'; Delay: Nanos; MaxAttempts: number; Window: Nanos };
    Placement: { Constraints: string[]; MaxReplicas: number };
    Networks: { Target: string; Aliases?: string[] }[];
    ForceUpdate: number;
  };
  Mode: { Replicated: { Replicas: number } } | { Global: Record<string, never> };
  EndpointSpec: { Mode: 'vip' | 'dnsrr'; Ports: PortConfig[] };
  UpdateConfig: { Parallelism: number; Delay: Nanos; FailureAction: 'pause' | 'continue' | 'rollback'; Order: 'stop-first' | 'start-first' };
}

export interface ServiceRecord {
  id: string;
  spec: ServiceSpec;
  previousSpec?: ServiceSpec;
  /**
   * The X-Registry-Auth value the service was created or updated with (`--with-registry-auth`),
   * as the client sent it; its tasks carry it to the node that pulls. Never shown by any read.
   */
  registryAuth?: string;
  /** The one that went with previousSpec, for a rollback. */
  previousRegistryAuth?: string;
  createdAt: string;
  updatedAt: string;
}

/** What the leader allocated for a service; `specVersion` is the spec's UpdatedAt it was made for. */
export interface ServiceEndpoint {
  id: string;
  vips: { networkId: string; addr: string }[];
  ports: PortConfig[];
  specUpdatedAt: string;
}

export class SpecError extends Error {
  override readonly name = 'SpecError';
}

/** Docker's defaults (swarmkit's api/defaults): restart any after 5 s, unlimited attempts; update 1 at a time. */
export const DEFAULT_RESTART_DELAY: Nanos = 5_000_000_000;
export const DEFAULT_STOP_GRACE: Nanos = 10_000_000_000;
/** Swarm's published-port range for PublishedPort 0. */
export const DYNAMIC_PORTS = { first: 30000, last: 32767 };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function obj(v: unknown, field: string): Obj {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) throw new SpecError(`${field} must be an object`);
  return v;
}

function strings(v: unknown, field: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new SpecError(`${field} must be a list of strings`);
  return v as string[];
}

function labels(v: unknown, field: string): Record<string, string> {
  const o = obj(v, field);
  for (const [k, x] of Object.entries(o)) if (typeof x !== 'string') throw new SpecError(`${field}.${k} must be a string`);
  return o as Record<string, string>;
}

function int(v: unknown, field: string, min: number, max: number, dflt: number): number {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw new SpecError(`${field} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return v;
}

function oneOf<T extends string>(v: unknown, field: string, allowed: readonly T[], dflt: T): T {
  if (v === undefined || v === null || v === '') return dflt;
  if (!allowed.includes(v as T)) throw new SpecError(`${field} must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

const CONSTRAINT_RE = /^\s*(node\.(?:id|hostname|role|labels\.[^\s=!]+))\s*(==|!=)\s*(\S(?:.*\S)?)\s*$/;

export interface Constraint {
  key: string;
  op: '==' | '!=';
  value: string;
}

export function parseConstraint(text: string): Constraint {
  const m = CONSTRAINT_RE.exec(text);
  if (!m) throw new SpecError(`invalid constraint '${text}': use node.id, node.hostname, node.role or node.labels.KEY, then == or !=, then a value (e.g. node.role==manager)`);
  return { key: m[1]!, op: m[2] as '==' | '!=', value: m[3]! };
}

/** What a constraint is checked against. */
export interface NodeFacts {
  id: string;
  hostname: string;
  role: string;
  labels: Record<string, string>;
}

export function constraintHolds(c: Constraint, n: NodeFacts): boolean {
  const actual = c.key === 'node.id' ? n.id : c.key === 'node.hostname' ? n.hostname : c.key === 'node.role' ? n.role : n.labels[c.key.slice('node.labels.'.length)];
  const equal = c.key === 'node.role' || c.key === 'node.hostname' ? actual?.toLowerCase() === c.value.toLowerCase() : actual === c.value;
  return c.op === '==' ? equal : !equal;
}

function ports(v: unknown): PortConfig[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new SpecError('EndpointSpec.Ports must be a list');
  const out = v.map((raw, i): PortConfig => {
    const p = obj(raw, `EndpointSpec.Ports[${i}]`);
    const name = p.Name === undefined || p.Name === '' ? undefined : String(p.Name);
    return {
      ...(name ? { Name: name } : {}),
      Protocol: oneOf(p.Protocol, `EndpointSpec.Ports[${i}].Protocol`, ['tcp', 'udp'] as const, 'tcp'),
      TargetPort: int(p.TargetPort, `EndpointSpec.Ports[${i}].TargetPort`, 1, 65535, 0),
      PublishedPort: int(p.PublishedPort, `EndpointSpec.Ports[${i}].PublishedPort`, 0, 65535, 0),
      PublishMode: oneOf(p.PublishMode, `EndpointSpec.Ports[${i}].PublishMode`, ['ingress', 'host'] as const, 'ingress'),
    };
  });
  out.forEach((p, i) => {
    if (p.PublishMode === 'host' && p.PublishedPort === 0) throw new SpecError(`EndpointSpec.Ports[${i}]: a host-mode port needs a PublishedPort (published=P,target=${p.TargetPort},mode=host): shoal does not pick one per node`);
  });
  const seen = new Set<string>();
  for (const p of out) {
    if (p.PublishedPort === 0) continue;
    const k = `${p.PublishedPort}/${p.Protocol}`;
    if (seen.has(k)) throw new SpecError(`EndpointSpec.Ports: port ${k} is published twice`);
    seen.add(k);
  }
  return out;
}

function networks(v: unknown, resolve: (nameOrId: string) => string): { Target: string; Aliases?: string[] }[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new SpecError('TaskTemplate.Networks must be a list');
  const out = v.map((raw, i) => {
    const n = obj(raw, `TaskTemplate.Networks[${i}]`);
    if (typeof n.Target !== 'string' || n.Target === '') throw new SpecError(`TaskTemplate.Networks[${i}].Target must name a network`);
    const aliases = strings(n.Aliases, `TaskTemplate.Networks[${i}].Aliases`);
    return { Target: resolve(n.Target), ...(aliases && aliases.length > 0 ? { Aliases: aliases } : {}) };
  });
  if (new Set(out.map((n) => n.Target)).size !== out.length) throw new SpecError('TaskTemplate.Networks: a network is listed twice');
  return out;
}

/**
 * Checks a ServiceSpec as the API received it and returns it completed with Docker's defaults.
 * `resolveNetwork` turns a network name or ID into an ID, throwing SpecError if there is none.
 */
export function normalizeServiceSpec(raw: unknown, resolveNetwork: (nameOrId: string) => string): ServiceSpec {
  const s = obj(raw, 'the service spec');
  checkObjectName(s.Name);
  const tt = obj(s.TaskTemplate, 'TaskTemplate');
  const cs = obj(tt.ContainerSpec, 'TaskTemplate.ContainerSpec');
  if (typeof cs.Image !== 'string' || cs.Image.trim() === '') throw new SpecError('TaskTemplate.ContainerSpec.Image is required: name the image (docker) or root directory (exec) to run');
  const env = strings(cs.Env, 'TaskTemplate.ContainerSpec.Env');
  for (const e of env ?? []) if (e === '' || e.startsWith('=')) throw new SpecError(`TaskTemplate.ContainerSpec.Env: '${e}' is not KEY=value`);
  const rp = obj(tt.RestartPolicy, 'TaskTemplate.RestartPolicy');
  const pl = obj(tt.Placement, 'TaskTemplate.Placement');
  const constraints = strings(pl.Constraints, 'TaskTemplate.Placement.Constraints') ?? [];
  constraints.forEach(parseConstraint);
  const mode = obj(s.Mode, 'Mode');
  if (mode.Replicated !== undefined && mode.Global !== undefined) throw new SpecError('Mode must be Replicated or Global, not both');
  const ep = obj(s.EndpointSpec, 'EndpointSpec');
  const endpointMode = oneOf(ep.Mode, 'EndpointSpec.Mode', ['vip', 'dnsrr'] as const, 'vip');
  const portList = ports(ep.Ports);
  if (endpointMode === 'dnsrr' && portList.some((p) => p.PublishMode === 'ingress')) throw new SpecError('EndpointSpec: port published with ingress mode can\'t be used with dnsrr mode');
  const uc = obj(s.UpdateConfig, 'UpdateConfig');
  const command = strings(cs.Command, 'TaskTemplate.ContainerSpec.Command');
  const args = strings(cs.Args, 'TaskTemplate.ContainerSpec.Args');
  const hostname = cs.Hostname === undefined || cs.Hostname === '' ? undefined : String(cs.Hostname);
  const dir = cs.Dir === undefined || cs.Dir === '' ? undefined : String(cs.Dir);
  return {
    Name: s.Name,
    Labels: labels(s.Labels, 'Labels'),
    TaskTemplate: {
      ContainerSpec: {
        Image: cs.Image.trim(),
        ...(command && command.length > 0 ? { Command: command } : {}),
        ...(args && args.length > 0 ? { Args: args } : {}),
        ...(env && env.length > 0 ? { Env: env } : {}),
        ...(hostname ? { Hostname: hostname } : {}),
        ...(dir ? { Dir: dir } : {}),
        Labels: labels(cs.Labels, 'TaskTemplate.ContainerSpec.Labels'),
        StopGracePeriod: int(cs.StopGracePeriod, 'TaskTemplate.ContainerSpec.StopGracePeriod', 0, Number.MAX_SAFE_INTEGER, DEFAULT_STOP_GRACE),
      },
      RestartPolicy: {
        Condition: oneOf(rp.Condition, 'TaskTemplate.RestartPolicy.Condition', ['none', 'on-failure', 'any'] as const, 'any'),
        Delay: int(rp.Delay, 'TaskTemplate.RestartPolicy.Delay', 0, Number.MAX_SAFE_INTEGER, DEFAULT_RESTART_DELAY),
        MaxAttempts: int(rp.MaxAttempts, 'TaskTemplate.RestartPolicy.MaxAttempts', 0, 1_000_000, 0),
        Window: int(rp.Window, 'TaskTemplate.RestartPolicy.Window', 0, Number.MAX_SAFE_INTEGER, 0),
      },
      Placement: { Constraints: constraints, MaxReplicas: int(pl.MaxReplicas, 'TaskTemplate.Placement.MaxReplicas', 0, 1_000_000, 0) },
      Networks: networks(tt.Networks ?? s.Networks, resolveNetwork),
      ForceUpdate: int(tt.ForceUpdate, 'TaskTemplate.ForceUpdate', 0, Number.MAX_SAFE_INTEGER, 0),
    },
    Mode: mode.Global !== undefined ? { Global: {} } : { Replicated: { Replicas: int(obj(mode.Replicated, 'Mode.Replicated').Replicas, 'Mode.Replicated.Replicas', 0, 10_000, 1) } },
    EndpointSpec: { Mode: endpointMode, Ports: portList },
    UpdateConfig: {
      Parallelism: int(uc.Parallelism, 'UpdateConfig.Parallelism', 0, 10_000, 1),
      Delay: int(uc.Delay, 'UpdateConfig.Delay', 0, Number.MAX_SAFE_INTEGER, 0),
      FailureAction: oneOf(uc.FailureAction, 'UpdateConfig.FailureAction', ['pause', 'continue', 'rollback'] as const, 'pause'),
      Order: oneOf(uc.Order, 'UpdateConfig.Order', ['stop-first', 'start-first'] as const, 'stop-first'),
    },
  };
}

export function replicasOf(spec: ServiceSpec): number | undefined {
  return 'Replicated' in spec.Mode ? spec.Mode.Replicated.Replicas : undefined;
}

export function parseServiceRecord(v: unknown): ServiceRecord {
  const r = v as Partial<ServiceRecord>;
  if (typeof r?.id !== 'string' || !isObj(r.spec) || typeof (r.spec as Partial<ServiceSpec>).Name !== 'string' || !isObj((r.spec as Partial<ServiceSpec>).TaskTemplate)) throw new Error('service needs id and a spec with Name and TaskTemplate');
  if ((r.registryAuth !== undefined && typeof r.registryAuth !== 'string') || (r.previousRegistryAuth !== undefined && typeof r.previousRegistryAuth !== 'string')) throw new Error('a service\'s registry auth must be a string');
  return r as ServiceRecord;
}

export function parseServiceEndpoint(v: unknown): ServiceEndpoint {
  const e = v as Partial<ServiceEndpoint>;
  if (typeof e?.id !== 'string' || !Array.isArray(e.vips) || !Array.isArray(e.ports)) throw new Error('service endpoint needs id, vips and ports');
  for (const vip of e.vips) if (typeof vip?.networkId !== 'string' || !isIPv4(String(vip.addr).split('/')[0] ?? '')) throw new Error('a VIP needs networkId and an IPv4 addr');
  return e as ServiceEndpoint;
}
