// `shoal service create|ls|ps|inspect|scale|update|rm|logs`, taking Docker's flags and printing what
// Docker prints; create, update and scale show the convergence progress unless --detach.
import { Command, Option } from 'commander';
import type { ApiClient } from '../client.js';
import { emit, filterFlags, labelsMatch, listFormat, printInspect, renderList } from '../format.js';
import { waitForConvergence } from '../progress.js';
import { REGISTRY_AUTH_HEADER } from '../../model/registry-auth.js';
import { registryAuthHeader } from '../registry-auth.js';
import { naturalLess, serviceHeaders, serviceListFormats, serviceRow, taskHeaders, taskListFormats, taskRows } from '../rows.js';
import { ServiceType } from '../template/docker-types.js';
import { parseDuration } from '../time.js';

type Out = (s: string) => void;
/** Docker's ServiceSpec as JSON: the agent checks it, the CLI only edits it. */
type Spec = Record<string, any>;

interface ServiceJson { ID: string; Version: { Index: number }; Spec: Spec; PreviousSpec?: Spec; Endpoint: { Ports?: PortJson[]; VirtualIPs?: { NetworkID: string; Addr: string }[] }; ServiceStatus?: { RunningTasks: number; DesiredTasks: number } }
interface PortJson { Protocol: string; TargetPort: number; PublishedPort: number; PublishMode: string }
export interface TaskJson { ID: string; Name: string; NodeName: string; Slot?: number; NodeID: string; ServiceID: string; DesiredState: string; CreatedAt: string; Spec: { ContainerSpec: { Image: string } }; Status: { State: string; Err?: string; Timestamp: string; PortStatus?: { Ports?: PortJson[] } } }

const collect = (v: string, acc: string[] = []) => [...acc, v];

/** --publish in its short form (8080:80[/udp], or just 80) or its long form (published=8080,target=80,protocol=udp,mode=host). */
export function parsePublish(text: string): PortJson {
  if (text.includes('=')) {
    const kv = Object.fromEntries(text.split(',').map((p) => { const i = p.indexOf('='); return [p.slice(0, i).trim(), p.slice(i + 1).trim()]; }));
    const known = ['published', 'target', 'protocol', 'mode'];
    const bad = Object.keys(kv).filter((k) => !known.includes(k));
    if (bad.length > 0) throw new Error(`invalid --publish '${text}': unknown field ${bad.join(', ')} (use published, target, protocol, mode)`);
    if (!kv.target) throw new Error(`invalid --publish '${text}': target is required`);
    return { Protocol: kv.protocol ?? 'tcp', TargetPort: port(kv.target, text), PublishedPort: kv.published ? port(kv.published, text) : 0, PublishMode: kv.mode ?? 'ingress' };
  }
  const m = /^(?:(\d+):)?(\d+)(?:\/(tcp|udp))?$/.exec(text.trim());
  if (!m) throw new Error(`invalid --publish '${text}': use PUBLISHED:TARGET[/udp] (e.g. 8080:80) or published=8080,target=80`);
  return { Protocol: m[3] ?? 'tcp', TargetPort: port(m[2]!, text), PublishedPort: m[1] ? port(m[1], text) : 0, PublishMode: 'ingress' };
}

function port(v: string, text: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`invalid --publish '${text}': ${v} is not a port (1-65535)`);
  return n;
}

function keyValues(list: string[] | undefined, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) {
    const i = kv.indexOf('=');
    if (i === 0) throw new Error(`invalid ${what} '${kv}': use key=value`);
    if (i < 0) out[kv] = '';
    else out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

function count(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new Error(`invalid ${flag} '${v}': give a whole number`);
  return Number(v);
}

interface CommonFlags {
  replicas?: string; env?: string[]; label?: string[]; containerLabel?: string[]; constraint?: string[]; replicasMaxPerNode?: string;
  restartCondition?: string; restartDelay?: string; restartMaxAttempts?: string; restartWindow?: string;
  updateParallelism?: string; updateDelay?: string; updateFailureAction?: string; updateOrder?: string;
  endpointMode?: string; hostname?: string; workdir?: string; stopGracePeriod?: string; detach?: boolean; quiet?: boolean;
  withRegistryAuth?: boolean;
}

/** Options create and update share, with the same names as Docker's. */
function commonOptions(cmd: Command): Command {
  return cmd
    .option('--replicas <n>', 'number of tasks')
    .option('--endpoint-mode <mode>', 'vip (one virtual IP) or dnsrr (DNS round robin over the tasks)')
    .option('--replicas-max-per-node <n>', 'at most this many tasks of the service on one node (0 = no limit)')
    .option('--restart-condition <c>', 'none, on-failure or any (default any)')
    .option('--restart-delay <d>', 'wait between restarts (default 5s)')
    .option('--restart-max-attempts <n>', 'restarts before giving up (default unlimited)')
    .option('--restart-window <d>', 'window in which restarts are counted')
    .option('--update-parallelism <n>', 'tasks updated at once (default 1; 0 = all)')
    .option('--update-delay <d>', 'wait between update batches')
    .option('--update-failure-action <a>', 'pause, continue or rollback')
    .option('--update-order <o>', 'stop-first or start-first')
    .option('--stop-grace-period <d>', 'time to stop before killing (default 10s)')
    .option('-d, --detach', 'exit at once instead of waiting for the service to converge')
    .option('-q, --quiet', 'no progress output')
    .option('--with-registry-auth', 'send the docker client\'s credentials for the image\'s registry (~/.docker/config.json) to the nodes that pull it');
}

/** The X-Registry-Auth header for `--with-registry-auth`, from the docker client's config; none without the flag. */
function authHeaders(o: CommonFlags, image: string): Record<string, string> {
  return o.withRegistryAuth ? { [REGISTRY_AUTH_HEADER]: registryAuthHeader(image) } : {};
}

function applyCommon(spec: Spec, o: CommonFlags): void {
  const tt = (spec.TaskTemplate ??= {});
  const cs = (tt.ContainerSpec ??= {});
  const replicas = count(o.replicas, '--replicas');
  if (replicas !== undefined) {
    if (spec.Mode?.Global) throw new Error('--replicas cannot be used with a global service');
    spec.Mode = { Replicated: { Replicas: replicas } };
  }
  if (o.endpointMode !== undefined) spec.EndpointSpec = { ...(spec.EndpointSpec ?? {}), Mode: o.endpointMode };
  const maxPer = count(o.replicasMaxPerNode, '--replicas-max-per-node');
  if (maxPer !== undefined) tt.Placement = { ...(tt.Placement ?? {}), MaxReplicas: maxPer };
  const rp = (tt.RestartPolicy ??= {});
  if (o.restartCondition !== undefined) rp.Condition = o.restartCondition;
  if (o.restartDelay !== undefined) rp.Delay = parseDuration(o.restartDelay, '--restart-delay');
  if (o.restartMaxAttempts !== undefined) rp.MaxAttempts = count(o.restartMaxAttempts, '--restart-max-attempts');
  if (o.restartWindow !== undefined) rp.Window = parseDuration(o.restartWindow, '--restart-window');
  const uc = (spec.UpdateConfig ??= {});
  if (o.updateParallelism !== undefined) uc.Parallelism = count(o.updateParallelism, '--update-parallelism');
  if (o.updateDelay !== undefined) uc.Delay = parseDuration(o.updateDelay, '--update-delay');
  if (o.updateFailureAction !== undefined) uc.FailureAction = o.updateFailureAction;
  if (o.updateOrder !== undefined) uc.Order = o.updateOrder;
  if (o.stopGracePeriod !== undefined) cs.StopGracePeriod = parseDuration(o.stopGracePeriod, '--stop-grace-period');
}

async function converge(client: ApiClient, id: string, o: { detach?: boolean; quiet?: boolean }, out: Out): Promise<void> {
  if (o.detach) return;
  await waitForConvergence(client, id, o.quiet ? () => undefined : out, o.quiet ? { tty: false } : {});
}

async function getService(client: ApiClient, name: string): Promise<ServiceJson> {
  try {
    return (await client.get<ServiceJson>(`/services/${encodeURIComponent(name)}`)).body;
  } catch (err) {
    if ((err as { status?: number }).status === 404) throw new Error(`no such service: ${name}`);
    throw err;
  }
}

export function registerServiceCommands(program: Command, client: () => ApiClient, out: Out): void {
  const service = program.command('service').description('manage services').enablePositionalOptions();

  // Everything after the image belongs to the task (`service create busybox httpd -f -p 80`), as with Docker.
  commonOptions(service.command('create').description('create a service').argument('<image>').argument('[command...]').passThroughOptions())
    .option('--name <name>', 'service name')
    .addOption(new Option('--mode <mode>', 'replicated or global').choices(['replicated', 'global']).default('replicated'))
    .option('--network <network>', 'attach to a network (repeatable)', collect)
    .option('-p, --publish <port>', 'publish a port: PUBLISHED:TARGET[/udp] or published=P,target=T,mode=host (repeatable)', collect)
    .option('-e, --env <KEY=value>', 'environment variable (repeatable)', collect)
    .option('-l, --label <key=value>', 'service label (repeatable)', collect)
    .option('--container-label <key=value>', 'container label (repeatable)', collect)
    .option('--constraint <expr>', 'placement constraint, e.g. node.role==manager (repeatable)', collect)
    .option('--hostname <name>', 'hostname inside the tasks')
    .option('-w, --workdir <dir>', 'working directory inside the tasks')
    .option('--entrypoint <cmd>', 'replace the image\'s entrypoint')
    .action(async (image: string, args: string[], o: CommonFlags & { name?: string; mode: string; network?: string[]; publish?: string[]; entrypoint?: string }) => {
      const spec: Spec = {
        Name: o.name ?? '', Labels: keyValues(o.label, '--label'),
        TaskTemplate: {
          ContainerSpec: { Image: image, ...(o.entrypoint ? { Command: [o.entrypoint] } : {}), ...(args.length > 0 ? { Args: args } : {}), Env: o.env ?? [], Labels: keyValues(o.containerLabel, '--container-label'), ...(o.hostname ? { Hostname: o.hostname } : {}), ...(o.workdir ? { Dir: o.workdir } : {}) },
          Placement: { Constraints: o.constraint ?? [] },
          Networks: (o.network ?? []).map((n) => ({ Target: n })),
        },
        Mode: o.mode === 'global' ? { Global: {} } : { Replicated: { Replicas: 1 } },
        EndpointSpec: { Ports: (o.publish ?? []).map(parsePublish) },
      };
      if (!o.name) throw new Error('--name is required: give the service a name (it becomes its DNS name)');
      applyCommon(spec, o);
      const { ID } = (await client().request<{ ID: string }>('POST', '/services/create', spec, authHeaders(o, image))).body;
      out(ID);
      await converge(client(), ID, o, out);
    });

  service
    .command('ls')
    .alias('list')
    .description('list services')
    .option('-q, --quiet', 'only IDs')
    .option('-f, --filter <k=v>', 'id=ID, name=NAME (prefixes), label=KEY or label=KEY=VALUE, mode=replicated|global (repeatable)', collect)
    .option('--format <format>', 'table (default), raw, a Go template (`table {{.ID}}\\t{{.Name}}`, `{{json .}}`), or json for the API objects')
    .action(async (o: { quiet?: boolean; filter?: string[]; format?: string }) => {
      const f = filterFlags(o.filter, ['id', 'name', 'label', 'mode']);
      for (const m of f.mode ?? []) if (m !== 'replicated' && m !== 'global') throw new Error(`invalid --filter 'mode=${m}': use mode=replicated or mode=global`);
      const api = { ...(f.id ? { id: f.id } : {}), ...(f.name ? { name: f.name } : {}) };
      const query = [...(o.quiet ? [] : ['status=true']), ...(Object.keys(api).length > 0 ? [`filters=${encodeURIComponent(JSON.stringify(api))}`] : [])];
      const list = (await client().get<ServiceJson[]>(`/services${query.length > 0 ? `?${query.join('&')}` : ''}`)).body
        .filter((s) => labelsMatch(s.Spec.Labels, f.label) && (!f.mode || f.mode.includes(s.Spec.Mode?.Global ? 'global' : 'replicated')));
      if (o.format === 'json') return out(JSON.stringify(list, null, 2));
      const rows = [...list].sort((a, b) => naturalLess(String(a.Spec.Name), String(b.Spec.Name))).map(serviceRow);
      emit(out, renderList(listFormat(o.format, o.quiet === true, serviceListFormats), rows, serviceHeaders));
    });

  service
    .command('ps <service...>')
    .description('list the tasks of services, with their history')
    .option('--no-trunc', 'do not shorten IDs, images and errors')
    .option('-q, --quiet', 'only task IDs')
    .option('-f, --filter <k=v>', 'desired-state=running|shutdown|accepted, id=ID, node=NODE (repeatable)', collect)
    .option('--format <format>', 'table (default), raw, a Go template (`table {{.Name}}\\t{{.CurrentState}}`), or json for the API objects')
    .action(async (names: string[], o: { trunc: boolean; quiet?: boolean; filter?: string[]; format?: string }) => {
      const filters = filterFlags(o.filter, ['desired-state', 'id', 'node']);
      const all: TaskJson[] = [];
      const serviceNames = new Map<string, string>();
      for (const n of names) {
        const svc = await getService(client(), n);
        serviceNames.set(svc.ID, String(svc.Spec.Name));
        all.push(...(await client().get<TaskJson[]>(`/tasks?filters=${encodeURIComponent(JSON.stringify({ ...filters, service: [svc.ID] }))}`)).body);
      }
      if (o.format === 'json') return out(JSON.stringify(all, null, 2));
      printTasks(out, all, serviceNames, o);
    });

  service
    .command('inspect <service...>')
    .description('show services in detail')
    .option('--pretty', 'human-friendly output')
    .option('-f, --format <format>', 'a Go template run on each service (`{{.Endpoint.VirtualIPs}}`), or json for compact JSON')
    .action(async (names: string[], o: { pretty?: boolean; format?: string }) => {
      const found: ServiceJson[] = [];
      const missing: string[] = [];
      for (const n of names) {
        try {
          found.push(await getService(client(), n));
        } catch (err) {
          missing.push(`Error: ${(err as Error).message}`);
        }
      }
      if (o.pretty || o.format === 'pretty') {
        out(found.map(prettyService).join('\n\n'));
        if (missing.length > 0) throw new Error(missing.map((m) => m.replace(/^Error: /, '')).join('\n'));
        return;
      }
      printInspect(out, o.format, found, ServiceType, missing);
    });

  service
    .command('scale <service=replicas...>')
    .description('set the number of tasks of replicated services')
    .option('-d, --detach', 'exit at once instead of waiting for convergence')
    .action(async (pairs: string[], o: { detach?: boolean }) => {
      const wanted = pairs.map((p) => {
        const m = /^(.+)=(\d+)$/.exec(p);
        if (!m) throw new Error(`invalid scale specifier '${p}': use SERVICE=REPLICAS, e.g. web=5`);
        return { name: m[1]!, replicas: Number(m[2]) };
      });
      for (const w of wanted) {
        const svc = await getService(client(), w.name);
        if (svc.Spec.Mode?.Global) throw new Error(`scale can only be used with replicated mode: ${w.name} is global`);
        await client().request('POST', `/services/${svc.ID}/update?version=${svc.Version.Index}`, { ...svc.Spec, Mode: { Replicated: { Replicas: w.replicas } } });
        out(`${w.name} scaled to ${w.replicas}`);
        await converge(client(), svc.ID, o, out);
      }
    });

  commonOptions(service.command('update <service>').description('change a service; its tasks are replaced as the update config says'))
    .option('--image <image>', 'new image')
    .option('--args <args>', 'new arguments, as one string split on spaces')
    .option('--env-add <KEY=value>', 'add or change an environment variable (repeatable)', collect)
    .option('--env-rm <KEY>', 'remove an environment variable (repeatable)', collect)
    .option('--label-add <key=value>', 'add or change a service label (repeatable)', collect)
    .option('--label-rm <key>', 'remove a service label (repeatable)', collect)
    .option('--constraint-add <expr>', 'add a placement constraint (repeatable)', collect)
    .option('--constraint-rm <expr>', 'remove a placement constraint (repeatable)', collect)
    .option('--publish-add <port>', 'publish a port (repeatable)', collect)
    .option('--publish-rm <published>', 'stop publishing a port (repeatable)', collect)
    .option('--network-add <network>', 'attach to a network (repeatable)', collect)
    .option('--network-rm <network>', 'detach from a network (repeatable)', collect)
    .option('--force', 'replace the tasks even if nothing changed')
    .option('--rollback', 'go back to the previous spec')
    .action(async (name: string, o: CommonFlags & { image?: string; args?: string; envAdd?: string[]; envRm?: string[]; labelAdd?: string[]; labelRm?: string[]; constraintAdd?: string[]; constraintRm?: string[]; publishAdd?: string[]; publishRm?: string[]; networkAdd?: string[]; networkRm?: string[]; force?: boolean; rollback?: boolean }) => {
      const svc = await getService(client(), name);
      if (o.rollback) {
        await client().request('POST', `/services/${svc.ID}/update?version=${svc.Version.Index}&rollback=previous`, svc.Spec, authHeaders(o, String(svc.PreviousSpec?.TaskTemplate?.ContainerSpec?.Image ?? svc.Spec.TaskTemplate.ContainerSpec.Image)));
        out(name);
        return converge(client(), svc.ID, o, out);
      }
      const spec: Spec = structuredClone(svc.Spec);
      const cs = spec.TaskTemplate.ContainerSpec;
      if (o.image) cs.Image = o.image;
      if (o.args !== undefined) cs.Args = o.args.split(' ').filter(Boolean);
      if (o.envAdd || o.envRm) {
        const env = new Map<string, string>((cs.Env ?? []).map((e: string) => [e.split('=')[0]!, e]));
        for (const k of o.envRm ?? []) env.delete(k);
        for (const e of o.envAdd ?? []) env.set(e.split('=')[0]!, e);
        cs.Env = [...env.values()];
      }
      spec.Labels = { ...(spec.Labels ?? {}), ...keyValues(o.labelAdd, '--label-add') };
      for (const k of o.labelRm ?? []) delete spec.Labels[k];
      const placement = (spec.TaskTemplate.Placement ??= {});
      placement.Constraints = [...(placement.Constraints ?? []).filter((c: string) => !(o.constraintRm ?? []).includes(c)), ...(o.constraintAdd ?? [])];
      const ep = (spec.EndpointSpec ??= {});
      ep.Ports = [...(ep.Ports ?? []).filter((p: PortJson) => !(o.publishRm ?? []).includes(String(p.PublishedPort)) && !(o.publishRm ?? []).includes(`${p.PublishedPort}:${p.TargetPort}`)), ...(o.publishAdd ?? []).map(parsePublish)];
      const nets = (spec.TaskTemplate.Networks ?? []) as { Target: string }[];
      const rm = new Set(o.networkRm ?? []);
      spec.TaskTemplate.Networks = [...nets.filter((n) => !rm.has(n.Target)), ...(o.networkAdd ?? []).map((n) => ({ Target: n }))];
      if (rm.size > 0) {
        // --network-rm may name the network; the spec holds IDs.
        const all = (await client().get<{ Id: string; Name: string }[]>('/networks')).body;
        const ids = new Set(all.filter((n) => rm.has(n.Name) || rm.has(n.Id)).map((n) => n.Id));
        spec.TaskTemplate.Networks = spec.TaskTemplate.Networks.filter((n: { Target: string }) => !ids.has(n.Target));
      }
      if (o.force) spec.TaskTemplate.ForceUpdate = (spec.TaskTemplate.ForceUpdate ?? 0) + 1;
      applyCommon(spec, o);
      await client().request('POST', `/services/${svc.ID}/update?version=${svc.Version.Index}`, spec, authHeaders(o, String(cs.Image)));
      out(name);
      await converge(client(), svc.ID, o, out);
    });

  service
    .command('logs <service>')
    .description('show the logs of a service\'s tasks (or one task), from whichever nodes run them')
    .option('-f, --follow', 'keep following the output')
    .option('-n, --tail <lines>', 'only the last lines of each task', 'all')
    .option('-t, --timestamps', 'show timestamps')
    .option('--no-task-ids', 'name tasks by slot only')
    .option('--raw', 'the lines only, without the task prefix')
    .action(async (name: string, o: { follow?: boolean; tail: string; timestamps?: boolean; taskIds: boolean; raw?: boolean }) => {
      const c = client();
      const isTask = /^[0-9a-z]{25}$/.test(name);
      const svc = isTask ? undefined : await getService(c, name);
      const tasks = (await c.get<TaskJson[]>(`/tasks?filters=${encodeURIComponent(JSON.stringify(svc ? { service: [svc.ID] } : { id: [name] }))}`)).body;
      const label = new Map(tasks.map((t) => [t.ID, `${o.taskIds ? `${t.Name.split('.').slice(0, 2).join('.')}.${t.ID.slice(0, 12)}` : t.Name.split('.').slice(0, 2).join('.')}@${t.NodeName}`]));
      const width = Math.max(0, ...[...label.values()].map((l) => l.length));
      const query = `stdout=1&stderr=1&details=1&follow=${o.follow ? 1 : 0}&timestamps=${o.timestamps ? 1 : 0}&tail=${encodeURIComponent(o.tail)}`;
      await c.stream(`/${svc ? `services/${svc.ID}` : `tasks/${name}`}/logs?${query}`, logPrinter((task, stream, text) => {
        const prefix = o.raw ? '' : `${(label.get(task) ?? task.slice(0, 12)).padEnd(width)}    | `;
        (stream === 2 ? process.stderr : process.stdout).write(prefix + text);
      }));
    });

  service
    .command('rm <service...>')
    .alias('remove')
    .description('remove services')
    .action(async (names: string[]) => {
      for (const n of names) {
        const svc = await getService(client(), n);
        await client().request('DELETE', `/services/${svc.ID}`);
        out(n);
      }
    });
}

/** Splits Docker's multiplexed log stream into lines and the task each came from (its details prefix). */
export function logPrinter(print: (taskId: string, stream: number, text: string) => void): (chunk: Buffer) => void {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 8) {
      const len = buf.readUInt32BE(4);
      if (buf.length < 8 + len) break;
      const stream = buf[0]!;
      let text = buf.subarray(8, 8 + len).toString('utf8');
      buf = buf.subarray(8 + len);
      const m = /^((?:\S+ )?)com\.docker\.swarm\.node\.id=[^,]*,com\.docker\.swarm\.service\.id=[^,]*,com\.docker\.swarm\.task\.id=([0-9a-z]+) /.exec(text);
      const task = m?.[2] ?? '';
      if (m) text = m[1] + text.slice(m[0].length);
      print(task, stream, text);
    }
  };
}

/** `service ps` / `node ps` output: Docker's task rows through the default table, -q or --format. */
export function printTasks(out: Out, tasks: TaskJson[], serviceNames: Map<string, string>, o: { trunc: boolean; quiet?: boolean; format?: string }, now = Date.now()): void {
  const format = listFormat(o.format, o.quiet === true, taskListFormats);
  const rows = taskRows(tasks, serviceNames, { trunc: o.trunc, table: format.startsWith('table'), now });
  emit(out, renderList(format, rows, taskHeaders));
}


function prettyService(s: ServiceJson): string {
  const spec = s.Spec;
  const lines = [`ID:\t\t${s.ID}`, `Name:\t\t${spec.Name}`];
  const labels = Object.entries(spec.Labels ?? {});
  if (labels.length > 0) lines.push('Labels:', ...labels.map(([k, v]) => ` ${k}=${v}`));
  lines.push(spec.Mode?.Global ? 'Service Mode:\tGlobal' : `Service Mode:\tReplicated\n Replicas:\t${spec.Mode?.Replicated?.Replicas ?? 0}`);
  const constraints = spec.TaskTemplate.Placement?.Constraints ?? [];
  lines.push('Placement:');
  if (constraints.length > 0) lines.push(` Constraints:\t[${constraints.join(' ')}]`);
  const rp = spec.TaskTemplate.RestartPolicy ?? {};
  lines.push('RestartPolicy:', ` Condition:\t${rp.Condition ?? 'any'}`, ` Delay:\t\t${(rp.Delay ?? 5e9) / 1e9}s`, ` MaxAttempts:\t${rp.MaxAttempts ?? 0}`);
  lines.push('UpdateConfig:', ` Parallelism:\t${spec.UpdateConfig?.Parallelism ?? 1}`, ` On failure:\t${spec.UpdateConfig?.FailureAction ?? 'pause'}`, ` Update order:\t${spec.UpdateConfig?.Order ?? 'stop-first'}`);
  const cs = spec.TaskTemplate.ContainerSpec;
  lines.push('ContainerSpec:', ` Image:\t\t${cs.Image}`);
  if (cs.Args) lines.push(` Args:\t\t${cs.Args.join(' ')}`);
  if (cs.Env?.length) lines.push(` Env:\t\t${cs.Env.join(' ')}`);
  const nets = spec.TaskTemplate.Networks ?? [];
  if (nets.length > 0) lines.push(`Networks:\t${nets.map((n: { Target: string }) => n.Target).join(' ')}`);
  lines.push(`Endpoint Mode:\t${spec.EndpointSpec?.Mode ?? 'vip'}`);
  for (const p of s.Endpoint.Ports ?? []) lines.push('Ports:', ` PublishedPort = ${p.PublishedPort}`, `  Protocol = ${p.Protocol}`, `  TargetPort = ${p.TargetPort}`, `  PublishMode = ${p.PublishMode}`);
  for (const v of s.Endpoint.VirtualIPs ?? []) lines.push(`VirtualIP:\t${v.Addr} (network ${v.NetworkID})`);
  return lines.join('\n');
}
