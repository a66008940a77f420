// The exec runtime against the real kernel: the shared runtime contract with image 'host' (busybox
// from busybox-static), then what only exec has to prove: a task outlives the Runtime object that
// started it and a new one on the same data directory finds it and learns its exit code; a root
// filesystem directory is chrooted into with the task's own resolv.conf and hosts; bad specs fail
// clearly; wait() learns an exit as it happens (no polling), and a task whose supervisor was
// killed too is still reported exited (by the slow resync); and no namespace, process or state
// directory is left behind.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { tunables } from '../../src/config/tunables.js';
import { listNetns } from '../../src/kernel/netns.js';
import { ExecRuntime } from '../../src/runtime/exec.js';
import { readProcessId, STATE_FILES } from '../../src/runtime/exec-state.js';
import type { Runtime, RuntimeTask } from '../../src/runtime/runtime.js';
import { uniqueName } from '../lib/kernel.js';
import { createTask, pollUntil, runtimeContract, silentLog, taskSpec, type Tap } from './runtime-contract.js';

const execFileP = promisify(execFile);

const dataDir = mkdtempSync(join(tmpdir(), 'shoal-rt-exec-'));
t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));

const make = (nodeId: string): ExecRuntime => new ExecRuntime({ dataDir, nodeId, log: silentLog });
const taskDir = (id: string): string => join(dataDir, 'runtime', 'exec', id);

/** Runs a script in the task's network, mount and UTS namespaces (and root, for a chrooted one). */
async function execIn(_runtime: Runtime, task: RuntimeTask, script: string): Promise<string> {
  if (!task.pid) throw new Error(`task ${task.id} has no pid`);
  const { stdout } = await execFileP('nsenter', ['-t', String(task.pid), '-n', '-m', '-u', '-r', '-w', '--', '/bin/busybox', 'sh', '-c', script], { timeout: 15_000 });
  return stdout;
}

await runtimeContract(t as unknown as Tap, {
  kind: 'exec',
  make,
  image: 'host',
  www: (tt) => {
    const dir = mkdtempSync(join(tmpdir(), 'shoal-rt-www-'));
    tt.teardown(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  },
  execIn,
  leftovers: async (task) => [
    ...(existsSync(taskDir(task.id)) ? [`state directory ${taskDir(task.id)}`] : []),
    ...listNetns().filter((n) => n.includes(task.taskId)).map((n) => `namespace ${n}`),
  ],
  subnet: 1,
});

t.test('a task outlives its Runtime object; a new one finds it running and learns its exit code', async (t) => {
  const first = make('node-restart');
  const spec = taskSpec('host', uniqueName('svc'), 'echo before-restart; exec /bin/busybox sleep 3600');
  const created = await createTask(t, first, spec);
  await first.start(created.id);
  const pid = (await first.inspect(created.id))?.pid;
  t.ok(pid, `running as pid ${pid}`);
  await first.close();

  const second = make('node-restart');
  t.teardown(() => second.close());
  const found = (await second.list()).find((x) => x.taskId === spec.taskId);
  t.match(found, { id: created.id, state: 'running', pid }, 'the new Runtime object lists it, running, same pid');
  t.same(await second.netns(created.id), { pid }, 'and can give its namespace for plumbing');
  const lines = await pollUntil('the log line', async () => {
    const got: string[] = [];
    for await (const l of second.logs(created.id)) got.push(l.line);
    return got.includes('before-restart') ? got : undefined;
  });
  t.ok(lines.includes('before-restart'), 'and reads the logs written before');

  process.kill(pid!, 'SIGKILL');
  t.equal(await second.wait(created.id), 137, 'the exit code, recorded by the supervisor, reaches the new object');
  await second.remove(created.id);
  t.notOk(existsSync(taskDir(created.id)), 'state directory removed');
});

t.test('a root filesystem directory is chrooted into, with the task\'s own resolv.conf, hosts and hostname', async (t) => {
  const rootfs = mkdtempSync(join(tmpdir(), 'shoal-rt-rootfs-'));
  t.teardown(() => rmSync(rootfs, { recursive: true, force: true }));
  mkdirSync(join(rootfs, 'bin'));
  mkdirSync(join(rootfs, 'proc'));
  mkdirSync(join(rootfs, 'work'));
  copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  symlinkSync('busybox', join(rootfs, 'bin', 'sh'));

  const runtime = make('node-rootfs');
  t.teardown(() => runtime.close());
  const script = 'cat /etc/resolv.conf; cat /etc/hosts; hostname; pwd; ls /; echo "path=$PATH"; test -r /proc/self/stat && echo proc-ok';
  // command + args, with 'sh' found through the task's PATH inside the root filesystem.
  const spec = taskSpec(rootfs, uniqueName('svc'), script, { command: ['sh', '-c'], args: [script], hostname: 'in-a-root', workdir: '/work', env: ['PATH=/bin'] });
  const task = await createTask(t, runtime, spec);
  await runtime.start(task.id);
  t.equal(await runtime.wait(task.id), 0, 'ran to completion');
  const out: string[] = [];
  for await (const l of runtime.logs(task.id)) out.push(l.line);
  t.same(out.slice(0, 3), ['search shoal.test', 'nameserver 127.0.0.11', 'options ndots:0'], 'its own resolv.conf');
  t.ok(out.some((l) => /^10\.9\.9\.9\s+peer-one peer-one\.shoal\.test$/.test(l)), 'its own hosts');
  t.ok(out.includes('in-a-root'), 'its hostname');
  t.ok(out.includes('/work'), 'in its workdir');
  t.ok(out.includes('path=/bin'), 'with the env it was given');
  t.ok(out.includes('proc-ok'), 'with /proc mounted');
  t.notOk(out.includes('usr'), 'seeing the root filesystem, not the node\'s');
  t.equal(existsSync(join(rootfs, 'etc', 'resolv.conf')), true, 'the mount target was created in the root filesystem');
});

t.test('bad specs fail clearly', async (t) => {
  const runtime = make('node-bad');
  t.teardown(() => runtime.close());
  await t.rejects(runtime.create(taskSpec('busybox:latest', 'svc', 'true')), { code: 'INVALID', message: /neither 'host' nor an absolute root filesystem/ }, 'an image reference');
  await t.rejects(runtime.create(taskSpec('/no/such/rootfs', 'svc', 'true')), { code: 'INVALID', message: /not a directory/ }, 'a missing root filesystem');
  await t.rejects(runtime.create({ ...taskSpec('host', 'svc', 'true'), command: undefined }), { code: 'INVALID', message: /no command/ }, 'no command');
  await t.rejects(runtime.create({ ...taskSpec('host', 'svc', 'true'), taskId: '../escape' }), { code: 'INVALID', message: /taskId/ }, 'a task id that is a path');

  const missing = await createTask(t, runtime, { ...taskSpec('host', 'svc', 'true'), command: ['no-such-program-shoal'] });
  await t.rejects(runtime.start(missing.id), { code: 'INVALID', message: /executable 'no-such-program-shoal' not found in PATH/ }, 'an executable that is not there');
  t.match(await runtime.inspect(missing.id), { state: 'created' }, 'and the task stays created');

  const spec = taskSpec('host', 'svc', 'true');
  await createTask(t, runtime, spec);
  await t.rejects(runtime.create(spec), { code: 'CONFLICT' }, 'the same task id twice');
  await t.rejects(runtime.netns(spec.taskId), { code: 'INVALID', message: /not running/ }, 'no namespace before it runs');
  await t.rejects(runtime.wait('nosuchtask'), { code: 'NOT_FOUND' }, 'wait on an unknown task');
  t.equal(await runtime.inspect('nosuchtask'), undefined, 'inspect of an unknown task');
});

/** Sets tunables for one test and puts them back after it. */
function withTunables(t: { teardown(fn: () => void): void }, values: Partial<Record<'execWaitPollMs' | 'execExitResyncMs', number>>): void {
  const saved = { execWaitPollMs: tunables.execWaitPollMs, execExitResyncMs: tunables.execExitResyncMs };
  t.teardown(() => Object.assign(tunables, saved));
  Object.assign(tunables, values);
}

t.test('wait() learns an exit when it happens, with the poll and the resync at a minute', async (t) => {
  withTunables(t, { execWaitPollMs: 60_000, execExitResyncMs: 60_000 });
  const runtime = make('node-wait-event');
  t.teardown(() => runtime.close());
  const task = await createTask(t, runtime, taskSpec('host', uniqueName('svc'), 'while :; do echo tick; /bin/busybox sleep 0.05; done'));
  await runtime.start(task.id);
  const pid = (await runtime.inspect(task.id))?.pid;
  t.ok(pid, `running as pid ${pid}`);
  let answered: number | undefined;
  const waiting = runtime.wait(task.id).then((code) => (answered = code));
  await sleep(500); // the task logs a line every 50 ms meanwhile: no answer comes from those
  t.equal(answered, undefined, 'no answer while it runs and logs');
  const t0 = Date.now();
  process.kill(pid!, 'SIGKILL');
  t.equal(await waiting, 137, 'wait() returns 137');
  t.ok(Date.now() - t0 < 5_000, `learnt ${Date.now() - t0} ms after the kill (a poll would take 60 s)`);
});

t.test('a task whose supervisor and process are both SIGKILLed is reported exited by wait(), through the resync', async (t) => {
  withTunables(t, { execWaitPollMs: 60_000, execExitResyncMs: 1_000 });
  const runtime = make('node-wait-resync');
  t.teardown(() => runtime.close());
  const task = await createTask(t, runtime, taskSpec('host', uniqueName('svc'), 'exec /bin/busybox sleep 3600'));
  await runtime.start(task.id);
  const pid = (await runtime.inspect(task.id))?.pid;
  const supervisor = readProcessId(join(taskDir(task.id), STATE_FILES.supervisorPid))?.pid;
  t.ok(pid && supervisor, `task pid ${pid}, supervisor pid ${supervisor}`);
  const waiting = runtime.wait(task.id);
  process.kill(supervisor!, 'SIGKILL'); // first, so that it cannot record the exit
  await sleep(100);
  process.kill(pid!, 'SIGKILL');
  const t0 = Date.now();
  t.equal(await waiting, 255, 'wait() returns 255: the exit status was lost');
  t.ok(Date.now() - t0 < 5_000, `within a resync (${Date.now() - t0} ms; resync 1 s ± 25 %)`);
  t.match(await runtime.inspect(task.id), { state: 'exited', exitCode: 255, error: /supervisor ended without recording an exit status/ }, 'inspect agrees, and says why');
  t.notOk(existsSync(join(taskDir(task.id), STATE_FILES.exit)), 'no exit file was written: no event could have told');
});
