// The body both runtime tests share (runtime-docker.test.ts, runtime-exec.test.ts): what every
// Runtime must do, checked against the real kernel and, for Docker, the real engine. Each runtime
// test supplies how to make a runtime, which image to use, and how to run a command inside a task.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { Runtime, RuntimeTask, TaskRunSpec } from '../../src/runtime/runtime.js';
import { LABEL_MANAGED, LABEL_NODE, LABEL_SERVICE_NAME, LABEL_TASK, RuntimeError } from '../../src/runtime/runtime.js';
import { ipJson, ipLink, scratchRtnl, uniqueName, type ScratchRtnl, type Teardown } from '../lib/kernel.js';

/** A test's handle on tap: assertions plus teardown. */
export interface Tap extends Teardown {
  test(name: string, fn: (t: Tap) => Promise<void>): Promise<unknown>;
  ok(v: unknown, msg?: string): void;
  notOk(v: unknown, msg?: string): void;
  equal(a: unknown, b: unknown, msg?: string): void;
  not(a: unknown, b: unknown, msg?: string): void;
  same(a: unknown, b: unknown, msg?: string): void;
  match(a: unknown, b: unknown, msg?: string): void;
  rejects(p: Promise<unknown> | (() => Promise<unknown>), expected?: unknown, msg?: string): Promise<void>;
}

export interface RuntimeUnderTest {
  kind: 'docker' | 'exec';
  /** A new runtime object for this node id (same data directory for the same test file). */
  make(nodeId: string): Runtime;
  /** busybox:latest for Docker, 'host' for exec. */
  image: string;
  /** Where the server task keeps the files it serves (inside the task). */
  www(t: Teardown): string;
  /** Runs a busybox shell script inside the running task's namespaces; its stdout. */
  execIn(runtime: Runtime, task: RuntimeTask, script: string): Promise<string>;
  /** True while the runtime still has something of the task outside the engine/state (container, state dir). */
  leftovers(task: RuntimeTask): Promise<string[]>;
  /** Third octet of the test subnet 10.231.X.0/24, different per runtime. */
  subnet: number;
}

export const silentLog = pino({ level: 'silent' });

const BB = '/bin/busybox';
const MTU = 1450;
const BLOB_SIZE = 200_000;

export function newTaskId(): string {
  // 25 lower-case letters and digits, like Swarm's.
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(25)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** `name` is Swarm's <service>.<slot>.<taskId>; the service gets a unique prefix so parallel runs never clash. */
export function taskSpec(image: string, service: string, script: string, extra: Partial<TaskRunSpec> = {}): TaskRunSpec {
  const taskId = newTaskId();
  return {
    taskId,
    name: `${service}.1.${taskId}`,
    serviceId: `svc${taskId.slice(0, 8)}`,
    serviceName: service,
    image,
    command: [BB, 'sh', '-c', script],
    dns: { nameservers: ['127.0.0.11'], search: ['shoal.test'], options: ['ndots:0'] },
    hosts: [{ ip: '10.9.9.9', names: ['peer-one', 'peer-one.shoal.test'] }],
    labels: { 'test.shoal.case': 'runtime' },
    ...extra,
  };
}

/** Creates the task and removes it when the test ends, pass or fail. */
export async function createTask(t: Teardown, runtime: Runtime, spec: TaskRunSpec): Promise<RuntimeTask> {
  let created: RuntimeTask | undefined;
  t.teardown(async () => {
    if (created) await runtime.remove(created.id).catch(() => undefined);
  });
  created = await runtime.create(spec);
  return created;
}

async function inspectOrFail(runtime: Runtime, id: string): Promise<RuntimeTask> {
  const task = await runtime.inspect(id);
  if (!task) throw new Error(`task ${id} vanished`);
  return task;
}

export async function pollUntil<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(100);
  }
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function processGone(pid: number): boolean {
  return !existsSync(`/proc/${pid}`) || /\) Z /.test(readStat(pid));
}

function readStat(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return '';
  }
}

/** The hosts file as [address, ...names] rows, comments dropped. */
function hostsRows(text: string): string[][] {
  return text.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean).map((l) => l.split(/\s+/));
}

function macOf(ip: string): string {
  return `02:42:${ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0')).join(':')}`;
}

function blobMd5(): string {
  return createHash('md5').update(Buffer.from('shoal\n'.repeat(Math.ceil(BLOB_SIZE / 6))).subarray(0, BLOB_SIZE)).digest('hex');
}

/** Everything a runtime must do, as one group of tap tests. */
export async function runtimeContract(t: Tap, r: RuntimeUnderTest): Promise<void> {
  const nodeId = `node-${randomBytes(4).toString('hex')}`;
  const service = uniqueName('svc');

  await t.test('create, start, inspect, list by node, logs, exit codes, remove', async (t) => {
    const runtime = r.make(nodeId);
    const other = r.make(`${nodeId}-other`);
    t.teardown(() => runtime.close());
    t.teardown(() => other.close());

    const spec = taskSpec(r.image, service, `echo out-line; echo err-line >&2; exec ${BB} sleep 3600`);
    const created = await createTask(t, runtime, spec);
    t.equal(created.state, 'created', 'created, not started');
    t.equal(created.taskId, spec.taskId, 'task id');
    t.equal(created.name, spec.name, 'name');
    t.match(created.labels, {
      [LABEL_MANAGED]: 'true',
      [LABEL_NODE]: nodeId,
      [LABEL_TASK]: spec.taskId,
      [LABEL_SERVICE_NAME]: service,
      'test.shoal.case': 'runtime',
    }, 'labelled as this node\'s, with the spec\'s own labels');
    const foreign = await createTask(t, other, taskSpec(r.image, service, `exec ${BB} sleep 3600`));

    await runtime.start(created.id);
    const running = await inspectOrFail(runtime, created.id);
    t.equal(running.state, 'running', 'running after start');
    t.ok(running.pid !== undefined && running.pid > 0 && existsSync(`/proc/${running.pid}`), `has a live main process (pid ${running.pid})`);
    t.ok(running.startedAt && !Number.isNaN(Date.parse(running.startedAt)), `startedAt ${running.startedAt}`);
    await runtime.start(created.id); // starting a running task is fine

    const listed = await runtime.list();
    t.ok(listed.some((x) => x.id === created.id && x.state === 'running'), 'list() shows the task, running');
    t.notOk(listed.some((x) => x.id === foreign.id), 'list() leaves out a task of another node id');
    t.ok((await other.list()).some((x) => x.id === foreign.id), 'which the other node id does list');

    const lines = await pollUntil('both log lines', async () => {
      const got = await collect(runtime.logs(created.id));
      return got.some((l) => l.line === 'out-line') && got.some((l) => l.line === 'err-line') ? got : undefined;
    });
    t.match(lines.find((l) => l.line === 'out-line'), { stream: 'stdout', time: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/ }, 'stdout line, timestamped');
    t.match(lines.find((l) => l.line === 'err-line'), { stream: 'stderr' }, 'stderr line');
    t.equal((await collect(runtime.logs(created.id, { tail: 1 }))).length, 1, 'tail: 1 gives one line');

    // Killed from outside: wait() learns the code, inspect agrees.
    process.kill(running.pid!, 'SIGKILL');
    t.equal(await runtime.wait(created.id), 137, 'wait() returns 137 after SIGKILL');
    const dead = await inspectOrFail(runtime, created.id);
    t.match(dead, { state: 'exited', exitCode: 137, pid: undefined }, 'inspect: exited with 137');
    t.equal(await runtime.wait(created.id), 137, 'wait() on an exited task answers at once');

    // Its own exit code, and a follow that ends when the task does.
    const quick = await createTask(t, runtime, taskSpec(r.image, service, `echo one; ${BB} sleep 0.3; echo two >&2; exit 3`));
    await runtime.start(quick.id);
    const followed = await collect(runtime.logs(quick.id, { follow: true }));
    t.same(followed.map((l) => [l.stream, l.line]), [['stdout', 'one'], ['stderr', 'two']], 'follow gives every line and ends with the task');
    t.equal(await runtime.wait(quick.id), 3, 'wait() returns the task\'s own exit code');
    t.match(await runtime.inspect(quick.id), { state: 'exited', exitCode: 3 }, 'inspect: exited with 3');

    // A follow can be aborted.
    const ac = new AbortController();
    const aborted = collect(runtime.logs(foreign.id, { follow: true, signal: ac.signal }));
    await sleep(200);
    ac.abort();
    await aborted;
    t.ok(true, 'an aborted follow ends');

    const waitAc = new AbortController();
    await other.start(foreign.id);
    const waiting = other.wait(foreign.id, waitAc.signal);
    waitAc.abort();
    await t.rejects(waiting, {}, 'an aborted wait() rejects');

    await other.stop(foreign.id, 1);
    t.match(await other.inspect(foreign.id), { state: 'exited' }, 'stop() leaves it exited');
    await other.stop(foreign.id, 1); // stopping a stopped task is fine

    for (const task of [created, quick, foreign]) {
      await (task === foreign ? other : runtime).remove(task.id);
      t.equal(await runtime.inspect(task.id), undefined, `inspect after remove: none (${task.name})`);
      t.same(await r.leftovers(task), [], 'nothing of it is left');
    }
    await runtime.remove(created.id); // removing a removed task is fine
    t.notOk((await runtime.list()).some((x) => x.id === created.id), 'not listed after remove');
    await t.rejects(runtime.start(created.id), { code: 'NOT_FOUND' }, 'start of a removed task is NOT_FOUND');
  });

  await t.test('stop: SIGTERM first, SIGKILL after the timeout', async (t) => {
    const runtime = r.make(nodeId);
    t.teardown(() => runtime.close());
    const polite = await createTask(t, runtime, taskSpec(r.image, service, `trap 'echo got-term; exit 42' TERM; while :; do ${BB} sleep 0.1; done`));
    const stubborn = await createTask(t, runtime, taskSpec(r.image, service, `trap '' TERM; exec ${BB} sleep 3600`));
    await runtime.start(polite.id);
    await runtime.start(stubborn.id);
    await sleep(300); // let the shells install their traps

    await runtime.stop(polite.id, 10);
    t.match(await runtime.inspect(polite.id), { state: 'exited', exitCode: 42 }, 'a task that handles SIGTERM exits its own way');
    const startedAt = Date.now();
    await runtime.stop(stubborn.id, 1);
    const took = Date.now() - startedAt;
    t.match(await runtime.inspect(stubborn.id), { state: 'exited', exitCode: 137 }, 'one that ignores it is killed');
    t.ok(took >= 900 && took < 8000, `after the timeout (${took} ms for 1 s)`);
  });

  await t.test('two tasks on a bridge: ping, HTTP, their own resolv.conf, hosts and MTU; nothing left after', async (t) => {
    const runtime = r.make(nodeId);
    t.teardown(() => runtime.close());
    const net: ScratchRtnl = scratchRtnl(t, 'rtbr');
    await net.rtnl.links.addBridge('br0', { mtu: MTU });
    await net.rtnl.links.setUp('br0');

    const www = r.www(t);
    const serverSpec = taskSpec(r.image, service,
      `${BB} mkdir -p "$WWW" && ${BB} yes shoal | ${BB} head -c ${BLOB_SIZE} >"$WWW/blob" && exec ${BB} httpd -f -p 80 -h "$WWW"`,
      { env: [`WWW=${www}`], hostname: 'web-server' });
    const clientSpec = taskSpec(r.image, service, `exec ${BB} sleep 3600`);
    const server = await createTask(t, runtime, serverSpec);
    const client = await createTask(t, runtime, clientSpec);
    await runtime.start(server.id);
    await runtime.start(client.id);

    const ip = (n: number): string => `10.231.${r.subnet}.${n}`;
    const attachment = (n: number) => ({
      ifname: 'eth0',
      bridge: { netns: { name: net.name }, name: 'br0' },
      hostIfname: uniqueName('v'),
      address: `${ip(n)}/24`,
      mac: macOf(ip(n)),
      mtu: MTU,
      defaultGateway: ip(1),
    });
    const a = attachment(2);
    const b = attachment(3);
    t.teardown(async () => {
      // On failure, take the veths away too (remove() would, with the namespace, but asynchronously).
      for (const x of [a, b]) await runtime.detach(server.id, x).catch(() => undefined);
    });
    await runtime.attach(server.id, a);
    await runtime.attach(client.id, b);
    await runtime.attach(server.id, a); // again, same settings: fine
    await t.rejects(runtime.attach(server.id, { ...a, mtu: 1400 }), { code: 'CONFLICT' }, 'eth0 again with another MTU is a CONFLICT');

    const ownLinks = ipJson<{ ifname: string }[]>(undefined, ['link', 'show']).map((l) => l.ifname);
    t.notOk(ownLinks.includes(a.hostIfname) || ownLinks.includes(b.hostIfname), 'no veth end in the agent\'s own namespace');
    t.match(ipLink(net.name, a.hostIfname), { master: 'br0', mtu: MTU }, 'bridge side on br0 with MTU 1450');
    t.ok(ipLink(net.name, a.hostIfname)?.flags.includes('UP'), 'bridge side up');

    const srv = await inspectOrFail(runtime, server.id);
    const cli = await inspectOrFail(runtime, client.id);
    t.equal((await r.execIn(runtime, srv, `${BB} cat /sys/class/net/eth0/mtu`)).trim(), String(MTU), 'MTU inside the task is 1450');
    t.equal((await r.execIn(runtime, srv, `${BB} cat /sys/class/net/eth0/address`)).trim(), a.mac, 'MAC inside the task');
    t.match(await r.execIn(runtime, srv, `${BB} ip -o -4 addr show dev eth0`), new RegExp(`inet ${a.address.replace(/\./g, '\\.')}\\b`), 'address inside the task');
    t.match(await r.execIn(runtime, srv, `${BB} ip route`), new RegExp(`default via ${ip(1).replace(/\./g, '\\.')} dev eth0`), 'default route via the gateway');
    t.match(await r.execIn(runtime, srv, `${BB} ip -o link show lo`), /[<,]UP[,>]/, 'lo is up');

    t.ok(await r.execIn(runtime, cli, `${BB} ping -c1 -W2 ${ip(2)} >/dev/null && echo ok`).then((o) => o.includes('ok'), () => false), 'client pings server');
    t.ok(await r.execIn(runtime, srv, `${BB} ping -c1 -W2 ${ip(3)} >/dev/null && echo ok`).then((o) => o.includes('ok'), () => false), 'server pings client');
    const md5 = await pollUntil('the HTTP transfer', async () => {
      const out = await r.execIn(runtime, cli, `set -o pipefail; ${BB} wget -q -O - http://${ip(2)}/blob | ${BB} md5sum`);
      return out.split(/\s+/)[0] || undefined;
    });
    t.equal(md5, blobMd5(), `a ${BLOB_SIZE}-byte HTTP transfer arrives intact`);

    t.equal(await r.execIn(runtime, srv, `${BB} cat /etc/resolv.conf`), 'search shoal.test\nnameserver 127.0.0.11\noptions ndots:0\n', 'resolv.conf inside is the spec\'s');
    const hosts = hostsRows(await r.execIn(runtime, srv, `${BB} cat /etc/hosts`));
    t.ok(hosts.some((row) => row[0] === '127.0.0.1' && row.includes('localhost')), 'hosts: localhost');
    t.ok(['peer-one', 'peer-one.shoal.test'].every((n) => hosts.some((row) => row[0] === '10.9.9.9' && row.includes(n))), 'hosts: the spec\'s extra names (one line, or one per name as Docker writes them)');
    t.ok(hosts.some((row) => row[0] === ip(2) && row.includes('web-server')), 'hosts: its own hostname at its address');
    t.equal((await r.execIn(runtime, srv, `${BB} hostname`)).trim(), 'web-server', 'hostname inside is the spec\'s');
    t.equal((await r.execIn(runtime, cli, `${BB} hostname`)).trim(), clientSpec.taskId.slice(0, 12), 'without one, the task id\'s first 12 characters');

    // Detach takes the pair away and the hostname line with it.
    await runtime.detach(client.id, b);
    t.equal(ipLink(net.name, b.hostIfname), undefined, 'detach removes the bridge side');
    t.notOk((await r.execIn(runtime, cli, `${BB} ls /sys/class/net`)).includes('eth0'), 'and the task side');
    t.notOk(hostsRows(await r.execIn(runtime, cli, `${BB} cat /etc/hosts`)).some((row) => row[0] === ip(3)), 'and its hosts line');
    await runtime.detach(client.id, b); // again: fine

    // Kill the server from outside: the code comes back; then nothing may be left.
    process.kill(srv.pid!, 'SIGKILL');
    t.equal(await runtime.wait(server.id), 137, 'server killed from outside: wait() says 137');
    t.match(await runtime.inspect(server.id), { state: 'exited', exitCode: 137 }, 'inspect agrees');
    await runtime.stop(client.id, 2);
    t.match(await runtime.inspect(client.id), { state: 'exited' }, 'client stopped');
    for (const task of [srv, cli]) {
      await runtime.remove(task.id);
      t.same(await r.leftovers(task), [], `nothing left of ${task.name}`);
      await pollUntil(`pid ${task.pid} to be gone`, async () => processGone(task.pid!));
    }
    await pollUntil('the server veth to go with its namespace', async () => ipLink(net.name, a.hostIfname) === undefined);
    t.ok(true, 'no process and no veth left');
  });
}

export function isRuntimeError(err: unknown, code: RuntimeError['code']): boolean {
  return err instanceof RuntimeError && err.code === code;
}
