// The node's task controller: makes the runtime run exactly the tasks the leader assigned to this
// node with desired state running, and reports what happens. Starting a task: claim the sandboxes
// of its networks, create it with no network, start it, plug one veth per network (and one on the
// egress bridge with the default route), write its endpoints (which peers program and DNS answers)
// and then its status, running. A task that exits is reported failed or complete and its endpoints
// go; a task to shut down is stopped and removed. Whatever the runtime holds for this node with no
// task behind it is removed. After an agent restart, running tasks are adopted, not restarted.
import { endpointId, macForIp, type EndpointRecord } from '../../model/endpoint.js';
import { isTerminal, taskName, type TaskRecord, type TaskState, type TaskStatusRecord } from '../../model/task.js';
import { Netns, type NetnsRef } from '../../kernel/netns.js';
import { RuntimeError, type LogLine, type LogOptions, type NetworkAttachment, type Runtime, type RuntimeTask, type TaskRunSpec } from '../../runtime/runtime.js';
import type { ClusterView } from '../cluster-view.js';
import { EGRESS_BRIDGE, type EgressBridge } from '../egress.js';
import type { OverlayController, SandboxInfo } from '../overlay/overlay.js';
import { Reconciler } from '../reconciler.js';
import { tunables } from '../../config/tunables.js';

/** The resolver every task is given: the embedded DNS listens there inside the task. */
export const TASK_NAMESERVER = '127.0.0.11';

/** Told when a task's namespace can serve (running) and when it stops; the DNS controller listens here. */
export interface TaskNetnsListener {
  taskRunning(task: TaskRecord, netns: NetnsRef): Promise<void> | void;
  taskStopped(taskId: string): void;
}

export interface TaskControllerOptions {
  runtime: Runtime;
  overlay: OverlayController;
  egress: EgressBridge;
  /** Told when a task's namespace is ready and when the task stops (DNS, VIP load balancing). */
  listeners: TaskNetnsListener[];
}

export class TaskController {
  private readonly loop: Reconciler;
  private readonly busy = new Map<string, Promise<void>>();
  private readonly watchers = new Map<string, AbortController>();
  private unsubscribe: (() => void)[] = [];
  private slots = tunables.maxParallelStarts;
  private readonly queue: (() => void)[] = [];

  constructor(
    private readonly view: ClusterView,
    private readonly opts: TaskControllerOptions,
  ) {
    this.loop = new Reconciler('tasks', () => this.pass(), { log: view.log, resyncMs: tunables.taskResyncMs });
  }

  async start(): Promise<void> {
    await this.opts.egress.ensure();
    this.unsubscribe.push(this.view.tables.tasks.watch((change) => {
      if (change.value === undefined || change.value.nodeId === this.view.nodeId) this.loop.trigger();
    }));
    this.loop.start();
    await this.loop.settle();
  }

  /** 'leave' stops and removes every task of this node; 'shutdown' leaves them running for the next run. */
  async stop(reason: 'leave' | 'shutdown'): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    await this.loop.stop();
    for (const w of this.watchers.values()) w.abort();
    this.watchers.clear();
    await Promise.allSettled(this.busy.values());
    if (reason === 'leave') {
      for (const rt of await this.opts.runtime.list()) await this.opts.runtime.remove(rt.id).catch(() => undefined);
      for (const e of this.myEndpoints()) await this.view.tables.endpoints.delete(e.id);
      for (const id of this.opts.egress.taskIds()) this.opts.egress.release(id);
      await this.opts.egress.remove();
    }
  }

  /** A task's log lines from the runtime; NOT_FOUND when this node holds nothing for it. */
  async *logs(taskId: string, opts: LogOptions): AsyncGenerator<LogLine> {
    const rt = (await this.opts.runtime.list()).find((x) => x.taskId === taskId);
    if (!rt) throw new RuntimeError(`task ${taskId} has no container or process on this node (removed with its history, or never started)`, 'NOT_FOUND');
    yield* this.opts.runtime.logs(rt.id, opts);
  }

  /** Waits for a pass over the current tables (tests, and the API after a change). */
  settle(): Promise<void> {
    return this.loop.settle();
  }

  private async pass(): Promise<void> {
    const mine = this.view.tables.tasks.list().map((e) => e.value).filter((t) => t.nodeId === this.view.nodeId);
    const ids = new Set(mine.map((t) => t.id));
    const held = new Map((await this.opts.runtime.list()).map((rt) => [rt.taskId, rt]));
    for (const t of mine) {
      if (this.busy.has(t.id)) continue;
      const rt = held.get(t.id);
      if (t.desiredState === 'running') this.keepRunning(t, rt);
      else if (this.needsShutdown(t, rt)) this.run(t.id, () => this.shutDown(t, rt));
    }
    for (const [taskId, rt] of held) if (!ids.has(taskId) && !this.busy.has(taskId)) this.run(taskId, () => this.removeOrphan(taskId, rt));
    for (const e of this.myEndpoints()) if (e.taskId && !ids.has(e.taskId)) await this.view.tables.endpoints.delete(e.id);
    for (const { value: s } of this.view.tables.taskStatus.list()) if (s.nodeId === this.view.nodeId && !ids.has(s.id)) await this.view.tables.taskStatus.delete(s.id);
    for (const id of this.opts.egress.taskIds()) if (!ids.has(id) && !held.has(id)) this.opts.egress.release(id);
  }

  /** A task that should run: start it, adopt it after a restart, or notice that it ended. */
  private keepRunning(t: TaskRecord, rt: RuntimeTask | undefined): void {
    const st = this.myStatus(t.id)?.state;
    if (st !== undefined && isTerminal(st)) return; // reported; the leader decides what comes next
    // Only a task that got as far as running is adopted: one caught half-plumbed by a crash starts again.
    if (rt?.state === 'running' && st === 'running') {
      if (!this.watchers.has(t.id)) this.run(t.id, () => this.adopt(t, rt));
      return;
    }
    if (rt?.state === 'exited' && st === 'running') return this.run(t.id, async () => this.exited(t, rt.exitCode ?? 255));
    if (st === 'running' && !rt) return this.report(t, 'failed', 'started', 'task: its container or process disappeared');
    this.run(t.id, () => this.launch(t, rt));
  }

  private run(taskId: string, work: () => Promise<void>): void {
    const p = work().catch((err: unknown) => this.view.log.warn({ task: taskId, err: (err as Error).message }, 'task work failed')).finally(() => {
      this.busy.delete(taskId);
      this.loop.trigger();
    });
    this.busy.set(taskId, p);
  }

  private async launch(t: TaskRecord, leftover: RuntimeTask | undefined): Promise<void> {
    await this.acquire();
    const claimed: string[] = [];
    let created: RuntimeTask | undefined;
    try {
      if (leftover) await this.opts.runtime.remove(leftover.id);
      this.report(t, 'preparing', 'preparing');
      const sandboxes: SandboxInfo[] = [];
      for (const n of t.networks) {
        sandboxes.push(await this.opts.overlay.claim(n.networkId));
        claimed.push(n.networkId);
      }
      created = await this.opts.runtime.create(this.runSpec(t));
      this.report(t, 'starting', 'starting', undefined, { containerId: created.id });
      await this.opts.runtime.start(created.id);
      const attachments: NetworkAttachment[] = t.networks.map((n, i) => ({
        ifname: `eth${i}`, bridge: { netns: { name: sandboxes[i]!.netns }, name: sandboxes[i]!.bridge }, hostIfname: `ve-${t.id.slice(0, 12)}`,
        address: n.addr, mac: macForIp(n.addr.split('/')[0]!), mtu: sandboxes[i]!.mtu,
      }));
      const egress = await this.opts.egress.attachmentFor(t.id);
      attachments.push({ ifname: `eth${t.networks.length}`, bridge: { netns: 'self', name: EGRESS_BRIDGE }, hostIfname: `eg-${t.id.slice(0, 12)}`, address: egress.address, mac: egress.mac, mtu: egress.mtu, defaultGateway: egress.gateway });
      for (const a of attachments) await this.opts.runtime.attach(created.id, a);
      tuneArp(await this.opts.runtime.netns(created.id), attachments.slice(0, t.networks.length).map((a) => a.ifname));
      const inspected = await this.opts.runtime.inspect(created.id);
      await this.becomeRunning(t, created.id, inspected?.pid);
    } catch (err) {
      // A process that exited before it could be plumbed failed (as Docker reports it); anything else was rejected.
      const exitCode = created ? await this.exitCodeSoon(created.id) : undefined;
      if (created) await this.opts.runtime.remove(created.id).catch(() => undefined);
      for (const l of this.opts.listeners) l.taskStopped(t.id);
      this.deleteEndpoints(t.id);
      if (exitCode !== undefined) this.exited(t, exitCode);
      else this.report(t, 'rejected', 'preparing', rejectReason(err));
    } finally {
      for (const id of claimed) this.opts.overlay.release(id);
      this.releaseSlot();
    }
  }

  /** Endpoints first (so peers and DNS know it), then the listener, then the status, then the exit watch. */
  private async becomeRunning(t: TaskRecord, runtimeId: string, pid: number | undefined): Promise<void> {
    this.writeEndpoints(t);
    const netns = await this.opts.runtime.netns(runtimeId);
    for (const l of this.opts.listeners) await l.taskRunning(t, netns);
    this.report(t, 'running', 'started', undefined, { containerId: runtimeId, ...(pid ? { pid } : {}) });
    this.watch(t, runtimeId);
  }

  /** A task found running after a restart: its endpoints and status are made right, nothing is restarted. */
  private async adopt(t: TaskRecord, rt: RuntimeTask): Promise<void> {
    for (const n of t.networks) await this.opts.overlay.claim(n.networkId);
    try {
      await this.becomeRunning(t, rt.id, rt.pid);
    } finally {
      for (const n of t.networks) this.opts.overlay.release(n.networkId);
    }
  }

  private watch(t: TaskRecord, runtimeId: string): void {
    if (this.watchers.has(t.id)) return;
    const abort = new AbortController();
    this.watchers.set(t.id, abort);
    this.opts.runtime.wait(runtimeId, abort.signal).then(
      (code) => { if (!abort.signal.aborted) this.exited(t, code); },
      () => undefined,
    ).finally(() => { if (this.watchers.get(t.id) === abort) this.watchers.delete(t.id); this.loop.trigger(); });
  }

  private exited(t: TaskRecord, code: number): void {
    for (const l of this.opts.listeners) l.taskStopped(t.id);
    this.deleteEndpoints(t.id);
    const current = this.view.tables.tasks.get(t.id)?.value;
    if (!current || current.desiredState !== 'running') return; // being shut down: that path reports
    if (code === 0) this.report(t, 'complete', 'finished', undefined, { exitCode: 0 });
    else this.report(t, 'failed', 'started', `task: non-zero exit (${code})`, { exitCode: code });
  }

  /** The exit code if the task's process has ended or ends within a moment (the runtime may record it a little late). */
  private async exitCodeSoon(runtimeId: string): Promise<number | undefined> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), tunables.exitGraceMs);
    try {
      return await this.opts.runtime.wait(runtimeId, abort.signal);
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A task to stop: still running, still plumbed or not yet reported stopped. A stopped one is kept
   * (with its logs, as Docker keeps the container) until the leader prunes it from the history,
   * or removed at once when its service is gone.
   */
  private needsShutdown(t: TaskRecord, rt: RuntimeTask | undefined): boolean {
    return (rt !== undefined && (rt.state !== 'exited' || t.desiredState === 'remove')) || this.hasEndpoints(t.id) || !isTerminal(this.myStatus(t.id)?.state ?? 'assigned');
  }

  private async shutDown(t: TaskRecord, rt: RuntimeTask | undefined): Promise<void> {
    this.watchers.get(t.id)?.abort();
    this.watchers.delete(t.id);
    for (const l of this.opts.listeners) l.taskStopped(t.id);
    this.deleteEndpoints(t.id);
    if (rt && rt.state !== 'exited') {
      const grace = Math.ceil((t.spec.ContainerSpec.StopGracePeriod ?? 10e9) / 1e9);
      await this.opts.runtime.stop(rt.id, grace).catch(() => undefined);
    }
    if (rt && t.desiredState === 'remove') await this.opts.runtime.remove(rt.id);
    this.opts.egress.release(t.id);
    const st = this.myStatus(t.id);
    if (!st || !isTerminal(st.state)) this.report(t, 'shutdown', 'shutdown', undefined, rt?.exitCode !== undefined ? { exitCode: rt.exitCode } : {});
  }

  private async removeOrphan(taskId: string, rt: RuntimeTask): Promise<void> {
    this.view.log.info({ task: taskId, runtimeId: rt.id }, 'removing a task this node no longer has');
    for (const l of this.opts.listeners) l.taskStopped(taskId);
    await this.opts.runtime.remove(rt.id);
    this.opts.egress.release(taskId);
  }

  private runSpec(t: TaskRecord): TaskRunSpec {
    const c = t.spec.ContainerSpec;
    return {
      taskId: t.id, name: taskName(t), serviceId: t.serviceId, serviceName: t.serviceName, image: c.Image,
      ...(c.Command ? { command: c.Command } : {}), ...(c.Args ? { args: c.Args } : {}), ...(c.Env ? { env: c.Env } : {}),
      ...(c.Labels ? { labels: c.Labels } : {}), ...(c.Hostname ? { hostname: c.Hostname } : {}), ...(c.Dir ? { workdir: c.Dir } : {}),
      dns: { nameservers: [TASK_NAMESERVER], options: ['ndots:0'] },
      ...(t.registryAuth ? { registryAuth: t.registryAuth } : {}),
    };
  }

  // ---- the tables this node writes ----

  private myStatus(taskId: string): TaskStatusRecord | undefined {
    const s = this.view.tables.taskStatus.get(taskId)?.value;
    return s?.nodeId === this.view.nodeId ? s : undefined;
  }

  private report(t: TaskRecord, state: TaskState, message: string, err?: string, extra: Partial<TaskStatusRecord> = {}): void {
    const prev = this.myStatus(t.id);
    this.written(this.view.tables.taskStatus.put(t.id, {
      id: t.id, nodeId: this.view.nodeId, state, message, ...(err ? { err } : {}), timestamp: new Date().toISOString(),
      ...(prev?.containerId ? { containerId: prev.containerId } : {}), ...(prev?.pid ? { pid: prev.pid } : {}), ...extra,
    }));
  }

  /** A write this node makes about its own tasks: not waited for; a failure is logged and the next pass writes again. */
  private written(write: Promise<void>): void {
    write.catch((err: Error) => this.view.log.warn({ err: err.message }, 'could not record a task\'s state in the cluster'));
  }

  private myEndpoints(): EndpointRecord[] {
    return this.view.tables.endpoints.list().map((e) => e.value).filter((e) => e.nodeId === this.view.nodeId);
  }

  private writeEndpoints(t: TaskRecord): void {
    for (const n of t.networks) {
      const ip = n.addr.split('/')[0]!;
      const rec: EndpointRecord = { id: endpointId(n.networkId, { taskId: t.id }), networkId: n.networkId, nodeId: this.view.nodeId, ip, mac: macForIp(ip), vtep: this.view.advertiseAddr, taskId: t.id };
      const cur = this.view.tables.endpoints.get(rec.id)?.value;
      if (!cur || JSON.stringify(cur) !== JSON.stringify(rec)) this.written(this.view.tables.endpoints.put(rec.id, rec));
    }
  }

  private hasEndpoints(taskId: string): boolean {
    return this.myEndpoints().some((e) => e.taskId === taskId);
  }

  private deleteEndpoints(taskId: string): void {
    for (const e of this.myEndpoints()) if (e.taskId === taskId) this.written(this.view.tables.endpoints.delete(e.id));
  }

  // ---- bounded parallel starts ----

  private acquire(): Promise<void> {
    if (this.slots > 0) {
      this.slots--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.queue.push(resolve));
  }

  private releaseSlot(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.slots++;
  }
}

function tuneArp(ref: NetnsRef, ifnames: string[]): void {
  const ns = Netns.open(ref);
  try {
    for (const i of ifnames) {
      ns.writeSysctl(`net/ipv4/neigh/${i}/retrans_time_ms`, tunables.arpRetransMs);
      ns.writeSysctl(`net/ipv4/neigh/${i}/mcast_solicit`, tunables.arpProbes);
    }
  } finally {
    ns.close();
  }
}

/** Docker's words for a task that could not start: the runtime's message, e.g. "No such image: x". */
function rejectReason(err: unknown): string {
  if (err instanceof RuntimeError) return err.message;
  return `starting the task failed: ${(err as Error).message}`;
}
