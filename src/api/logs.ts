// GET /services/{id}/logs and GET /tasks/{id}/logs in the Docker Engine API's shape: query follow,
// stdout, stderr, timestamps, tail, details; the body is Docker's multiplexed stream (an 8-byte
// header, stream 1 or 2 and the length, before each line). Each task's lines come from the node
// that runs it: this node's runtime directly, any other node's through its node API (mutual TLS).
// With details=1 each line carries the task's swarm attributes first, as Docker's does, which is
// how a client tells tasks apart.
import { remoteLogs } from '../cluster/node-api.js';
import type { Swarm } from '../cluster/swarm.js';
import type { RunningNode } from '../controllers/node.js';
import { taskName, type TaskRecord } from '../model/task.js';
import type { LogLine, LogOptions } from '../runtime/runtime.js';
import { ApiError, type ApiRequest } from './http.js';
import { resolveByName } from './resolve.js';
import type { Router } from './router.js';
import { swarmHandler } from './swarm.js';
import { requireRunning, type Running } from './cluster.js';


/** Docker's frame: [stream, 0, 0, 0, length (u32 BE)] then the payload. */
export function frame(stream: 'stdout' | 'stderr', payload: string): Buffer {
  const body = Buffer.from(payload);
  const head = Buffer.alloc(8);
  head[0] = stream === 'stdout' ? 1 : 2;
  head.writeUInt32BE(body.length, 4);
  return Buffer.concat([head, body]);
}

interface Want {
  stdout: boolean;
  stderr: boolean;
  timestamps: boolean;
  details: boolean;
  opts: LogOptions;
}

function details(t: TaskRecord): string {
  return `com.docker.swarm.node.id=${t.nodeId},com.docker.swarm.service.id=${t.serviceId},com.docker.swarm.task.id=${t.id}`;
}

/** One task's lines, from wherever it runs, as frames; a node that cannot be asked says so on stderr. */
async function* taskFrames(swarm: Swarm, r: RunningNode, t: TaskRecord, w: Want): AsyncGenerator<Buffer> {
  const line = (l: LogLine) => `${w.timestamps ? `${l.time} ` : ''}${w.details ? `${details(t)} ` : ''}${l.line}\n`;
  try {
    let source: AsyncIterable<LogLine>;
    if (t.nodeId === r.view.nodeId) source = r.tasks.logs(t.id, w.opts);
    else {
      const identity = swarm.nodeIdentity();
      const node = r.view.node(t.nodeId);
      if (!identity || !node) throw new Error(`node ${t.nodeId} is not known here`);
      source = remoteLogs(identity, { nodeId: node.id, addr: node.addr }, t.id, w.opts);
    }
    for await (const l of source) if ((l.stream === 'stdout' && w.stdout) || (l.stream === 'stderr' && w.stderr)) yield frame(l.stream, line(l));
  } catch (err) {
    if (w.opts.signal?.aborted || (err as { code?: string }).code === 'NOT_FOUND') return;
    const host = r.view.node(t.nodeId)?.hostname ?? t.nodeId;
    yield frame('stderr', `${w.details ? `${details(t)} ` : ''}error: cannot read the logs of ${taskName(t)} on ${host}: ${(err as Error).message}\n`);
  }
}

/** Tasks one after another; with follow, all at once, lines interleaved as they come. */
async function* merged(sources: AsyncGenerator<Buffer>[], follow: boolean): AsyncGenerator<Buffer> {
  if (!follow) {
    for (const s of sources) yield* s;
    return;
  }
  const pending = new Map<number, Promise<{ i: number; r: IteratorResult<Buffer> }>>();
  const pull = (i: number) => pending.set(i, sources[i]!.next().then((r) => ({ i, r })));
  sources.forEach((_, i) => pull(i));
  while (pending.size > 0) {
    const { i, r } = await Promise.race(pending.values());
    if (r.done) pending.delete(i);
    else {
      yield r.value;
      pull(i);
    }
  }
}

function wanted(req: ApiRequest): Want {
  const flag = (name: string) => ['1', 'true'].includes(req.query.get(name) ?? '');
  const tailText = req.query.get('tail');
  const tail = tailText === null || tailText === 'all' ? undefined : Number(tailText);
  if (tail !== undefined && (!Number.isInteger(tail) || tail < 0)) throw new ApiError(400, `invalid tail '${tailText}': give a number of lines or all`);
  const stdout = flag('stdout');
  const stderr = flag('stderr');
  if (!stdout && !stderr) throw new ApiError(400, 'you must choose at least one stream: stdout=1, stderr=1 or both');
  return { stdout, stderr, timestamps: flag('timestamps'), details: flag('details'), opts: { follow: flag('follow'), signal: req.signal, ...(tail !== undefined ? { tail } : {}) } };
}

export function addLogRoutes(router: Router, swarm: Swarm, node: Running): void {
  const running = () => requireRunning(swarm, node);
  router.add('GET', '/services/{id}/logs', swarmHandler((req) => {
    const r = running();
    const svc = resolveByName(r.view.tables.services.list(), req.params.id!, (x) => x.key, (x) => x.value.spec.Name, 'service').value;
    const w = wanted(req);
    const tasks = r.view.tables.tasks.list().map((e) => e.value).filter((t) => t.serviceId === svc.id && t.nodeId !== '')
      .sort((a, b) => (a.slot ?? 0) - (b.slot ?? 0) || a.createdAt.localeCompare(b.createdAt));
    return { stream: merged(tasks.map((t) => taskFrames(swarm, r, t, w)), w.opts.follow === true) };
  }));
  router.add('GET', '/tasks/{id}/logs', swarmHandler((req) => {
    const r = running();
    const t = resolveByName(r.view.tables.tasks.list(), req.params.id!, (x) => x.key, (x) => taskName(x.value), 'task').value;
    return { stream: taskFrames(swarm, r, t, wanted(req)) };
  }));
}
