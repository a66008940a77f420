// Service and task endpoints in the Docker Engine API's shapes: POST /services/create, GET
// /services, GET /services/{id}, POST /services/{id}/update?version=N, DELETE /services/{id},
// GET /tasks, GET /tasks/{id}. A spec is checked completely (normalizeServiceSpec, names, networks,
// published ports) before anything is written; the leader does the rest from the tables.
import { newId } from '../cluster/ids.js';
import type { Swarm } from '../cluster/swarm.js';
import type { RunningNode } from '../controllers/node.js';
import { normalizeServiceSpec, replicasOf, SpecError, type ServiceRecord, type ServiceSpec } from '../model/service.js';
import { NameError } from '../model/names.js';
import { decodeRegistryAuth, REGISTRY_AUTH_HEADER, RegistryAuthError } from '../model/registry-auth.js';
import { effectiveStatus, taskName, type TaskRecord } from '../model/task.js';
import { portConflict, reservedPortProblem, type ReservedPort } from '../model/ports.js';
import { ApiError, type ApiRequest } from './http.js';
import { findNetwork } from './networks.js';
import { resolveByName } from './resolve.js';
import type { Router } from './router.js';
import { swarmHandler } from './swarm.js';
import { requireRunning, type Running } from './cluster.js';


/**
 * Checks a spec against the cluster: valid, its networks exist (and are not ingress), its name free,
 * no published port one the cluster itself uses, none clashing with another service's (model/ports.ts).
 */
export function checkSpec(r: RunningNode, raw: unknown, selfId?: string, reserved: readonly ReservedPort[] = []): ServiceSpec {
  let spec: ServiceSpec;
  try {
    spec = normalizeServiceSpec(raw, (name) => {
      const net = (() => {
        try {
          return findNetwork(r, name);
        } catch {
          throw new SpecError(`network ${name} not found: create it with \`shoal network create -d overlay ${name}\``);
        }
      })();
      if (net.ingress) throw new SpecError(`service cannot be explicitly attached to the ingress network "${net.name}": publish a port instead`);
      return net.id;
    });
  } catch (err) {
    if (err instanceof NameError) throw new ApiError(400, err.message); // Docker's words, as they are
    if (err instanceof SpecError) throw new ApiError(400, `invalid service spec: ${err.message}`);
    throw err;
  }
  const others = r.view.tables.services.list().map((e) => e.value).filter((s) => s.id !== selfId);
  const clash = others.find((s) => s.spec.Name === spec.Name);
  if (clash) throw new ApiError(409, `service ${spec.Name} already exists (${clash.id})`);
  const isReserved = reservedPortProblem(spec.EndpointSpec.Ports, reserved);
  if (isReserved) throw new ApiError(400, isReserved);
  const holders = others.map((s) => ({ id: s.id, name: s.spec.Name, ports: [...s.spec.EndpointSpec.Ports, ...(r.view.tables.serviceEndpoints.get(s.id)?.value.ports ?? [])] }));
  const conflict = portConflict(spec.EndpointSpec.Ports, holders);
  if (conflict) throw new ApiError(400, conflict);
  return spec;
}

/**
 * The X-Registry-Auth header (`--with-registry-auth`), checked and kept as sent; undefined when the
 * client sent none. Docker stores it with the service for the nodes' pulls; so does shoal.
 */
export function registryAuthOf(req: Pick<ApiRequest, 'headers'>): string | undefined {
  const raw = req.headers[REGISTRY_AUTH_HEADER];
  if (raw === undefined) return undefined;
  const value = Array.isArray(raw) ? raw[raw.length - 1] ?? '' : raw;
  try {
    decodeRegistryAuth(value);
  } catch (err) {
    if (err instanceof RegistryAuthError) throw new ApiError(400, err.message);
    throw err;
  }
  return value.trim();
}

/** On update without the header: keep the current spec's auth, or take the previous spec's (Docker's registryAuthFrom). */
export function registryAuthForUpdate(req: Pick<ApiRequest, 'headers' | 'query'>, record: Pick<ServiceRecord, 'registryAuth' | 'previousRegistryAuth' | 'previousSpec'>, rollback: boolean): string | undefined {
  const sent = registryAuthOf(req);
  const from = req.query.get('registryAuthFrom') ?? 'spec';
  if (!['spec', 'previous-spec', ''].includes(from)) throw new ApiError(400, `unsupported registryAuthFrom value ${JSON.stringify(from)}: use spec or previous-spec`);
  if (from === 'previous-spec' && !record.previousSpec) throw new ApiError(400, 'service does not have a previous spec');
  if (sent !== undefined) return sent;
  return rollback || from === 'previous-spec' ? record.previousRegistryAuth : record.registryAuth;
}

function findService(r: RunningNode, name: string): { record: ServiceRecord; index: number } {
  const entries = r.view.tables.services.list();
  const e = resolveByName(entries, name, (x) => x.key, (x) => x.value.spec.Name, 'service');
  return { record: e.value, index: e.index };
}

function serviceView(r: RunningNode, record: ServiceRecord, index: number, withStatus: boolean): Record<string, unknown> {
  const ep = r.view.tables.serviceEndpoints.get(record.id)?.value;
  const view: Record<string, unknown> = {
    ID: record.id, Version: { Index: index }, CreatedAt: record.createdAt, UpdatedAt: record.updatedAt, Spec: record.spec,
    ...(record.previousSpec ? { PreviousSpec: record.previousSpec } : {}),
    Endpoint: {
      Spec: record.spec.EndpointSpec,
      ...(ep && ep.ports.length > 0 ? { Ports: ep.ports } : {}),
      ...(ep && ep.vips.length > 0 ? { VirtualIPs: ep.vips.map((v) => ({ NetworkID: v.networkId, Addr: v.addr })) } : {}),
    },
  };
  if (withStatus) {
    const tasks = r.view.tables.tasks.list().map((e) => e.value).filter((t) => t.serviceId === record.id);
    const states = tasks.map((t) => ({ t, s: effectiveStatus(t, r.view.tables.taskStatus.get(t.id)?.value) }));
    const desired = replicasOf(record.spec) ?? tasks.filter((t) => t.desiredState === 'running').length;
    view.ServiceStatus = { RunningTasks: states.filter((x) => x.t.desiredState === 'running' && x.s.state === 'running').length, DesiredTasks: desired, CompletedTasks: states.filter((x) => x.s.state === 'complete').length };
  }
  return view;
}

export function taskView(r: RunningNode, t: TaskRecord, index: number): Record<string, unknown> {
  const st = effectiveStatus(t, r.view.tables.taskStatus.get(t.id)?.value);
  return {
    ID: t.id, Version: { Index: index }, CreatedAt: t.createdAt, UpdatedAt: t.updatedAt, Labels: {}, Spec: t.spec, ServiceID: t.serviceId,
    ...(t.slot !== undefined ? { Slot: t.slot } : {}), NodeID: t.nodeId,
    Status: {
      Timestamp: st.timestamp, State: st.state, Message: st.message, ...(st.err ? { Err: st.err } : {}),
      ...(st.containerId ? { ContainerStatus: { ContainerID: st.containerId, PID: st.pid ?? 0, ExitCode: st.exitCode ?? 0 } } : {}),
      // Docker's: the host-mode ports the running task holds on its node.
      ...(t.hostPorts?.length && st.state === 'running' ? { PortStatus: { Ports: t.hostPorts } } : {}),
    },
    DesiredState: t.desiredState,
    NetworksAttachments: t.networks.map((n) => ({ Network: { ID: n.networkId, Spec: { Name: r.view.tables.networks.get(n.networkId)?.value.name ?? n.networkId } }, Addresses: [n.addr] })),
    // shoal's: the container name and the node's hostname, so a client needs no second lookup
    Name: taskName(t),
    NodeName: r.view.node(t.nodeId)?.hostname ?? '',
  };
}

/** Docker's ?filters={"service":["web"],"desired-state":["running"],...}. */
function parseFilters(req: ApiRequest): Record<string, string[]> {
  const raw = req.query.get('filters');
  if (!raw) return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new ApiError(400, 'filters must be JSON like {"service":["web"]}');
  }
  const out: Record<string, string[]> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = Array.isArray(x) ? x.map(String) : Object.keys(x as object);
  return out;
}

export function addServiceRoutes(router: Router, swarm: Swarm, node: Running, reserved: () => readonly ReservedPort[] = () => []): void {
  router.add('POST', '/services/create', swarmHandler(async (req) => {
    const r = requireRunning(swarm, node);
    const spec = checkSpec(r, req.body, undefined, reserved());
    const registryAuth = registryAuthOf(req);
    const now = new Date().toISOString();
    const id = newId();
    await r.view.tables.services.put(id, { id, spec, ...(registryAuth ? { registryAuth } : {}), createdAt: now, updatedAt: now });
    return { status: 201, body: { ID: id } };
  }));

  router.add('GET', '/services', swarmHandler((req) => {
    const r = requireRunning(swarm, node);
    const f = parseFilters(req);
    const status = ['1', 'true'].includes(req.query.get('status') ?? '');
    return {
      body: r.view.tables.services.list()
        .filter((e) => (!f.name || f.name.some((n) => e.value.spec.Name.startsWith(n))) && (!f.id || f.id.some((i) => e.key.startsWith(i))))
        .map((e) => serviceView(r, e.value, e.index, status)),
    };
  }));

  router.add('GET', '/services/{id}', swarmHandler((req) => {
    const r = requireRunning(swarm, node);
    const { record, index } = findService(r, req.params.id!);
    return { body: serviceView(r, record, index, ['1', 'true'].includes(req.query.get('status') ?? '')) };
  }));

  router.add('POST', '/services/{id}/update', swarmHandler(async (req) => {
    const r = requireRunning(swarm, node);
    const { record, index } = findService(r, req.params.id!);
    const version = Number(req.query.get('version'));
    if (!Number.isSafeInteger(version)) throw new ApiError(400, 'the version query parameter is required: read the service (its Version.Index) and pass it back');
    if (version !== index) throw new ApiError(409, `update out of sequence: service ${record.spec.Name} is at version ${index}, not ${version}; read it again and retry`);
    const rollback = req.query.get('rollback') === 'previous';
    if (rollback && !record.previousSpec) throw new ApiError(400, `service ${record.spec.Name} has no previous spec to roll back to`);
    const spec = rollback ? record.previousSpec! : checkSpec(r, req.body, record.id, reserved());
    if (spec.Name !== record.spec.Name) throw new ApiError(400, 'a service cannot be renamed: remove it and create it again');
    const registryAuth = registryAuthForUpdate(req, record, rollback);
    const { registryAuth: _current, previousRegistryAuth: _previous, ...rest } = record;
    await r.view.tables.services.put(record.id, {
      ...rest, spec, previousSpec: record.spec, ...(registryAuth ? { registryAuth } : {}),
      ...(record.registryAuth ? { previousRegistryAuth: record.registryAuth } : {}), updatedAt: new Date().toISOString(),
    });
    return { body: { Warnings: null } };
  }));

  router.add('DELETE', '/services/{id}', swarmHandler(async (req) => {
    const r = requireRunning(swarm, node);
    const { record } = findService(r, req.params.id!);
    await r.view.tables.services.delete(record.id);
    return { body: '' };
  }));

  router.add('GET', '/tasks', swarmHandler((req) => {
    const r = requireRunning(swarm, node);
    const f = parseFilters(req);
    const serviceIds = f.service?.map((s) => findService(r, s).record.id);
    const nodeIds = f.node?.map((n) => swarm.resolveNode(n === 'self' ? swarm.nodeId! : n).record.id);
    return {
      body: r.view.tables.tasks.list()
        .filter((e) => (!serviceIds || serviceIds.includes(e.value.serviceId)) && (!nodeIds || nodeIds.includes(e.value.nodeId)) && (!f['desired-state'] || f['desired-state'].includes(e.value.desiredState)) && (!f.id || f.id.some((i) => e.key.startsWith(i))))
        .map((e) => taskView(r, e.value, e.index)),
    };
  }));

  router.add('GET', '/tasks/{id}', swarmHandler((req) => {
    const r = requireRunning(swarm, node);
    const e = resolveByName(r.view.tables.tasks.list(), req.params.id!, (x) => x.key, (x) => taskName(x.value), 'task');
    return { body: taskView(r, e.value, e.index) };
  }));
}
