// untilTaskExits on a real directory with real inotify, the task's state played by files: the exit
// is learnt as soon as `exit` is renamed into place though the poll and the resync are set to a
// minute; log writes into the directory cause no state reads; a supervisor that dies silently is
// caught by the resync; a removed task rejects as not found; an abort rejects; and neither the
// watch nor a timer outlives the wait on any of these paths.
import { appendFileSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { tunables } from '../../src/config/tunables.js';
import { untilTaskExits } from '../../src/runtime/exec-wait.js';
import type { RuntimeTask } from '../../src/runtime/runtime.js';

const saved = { execWaitPollMs: tunables.execWaitPollMs, execExitResyncMs: tunables.execExitResyncMs };
t.teardown(() => Object.assign(tunables, saved));
Object.assign(tunables, { execWaitPollMs: 60_000, execExitResyncMs: 60_000 });

/** A task directory whose state reads are counted; `silentExit` makes it exited with no event (a killed supervisor). */
function fakeTask(t: Tap) {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-exec-wait-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const state = { reads: 0, silentExit: false };
  const base = { id: 't1', taskId: 't1', name: 'svc.1.t1', labels: {}, pid: undefined, error: undefined, startedAt: undefined, finishedAt: undefined };
  const read = (): RuntimeTask | undefined => {
    state.reads++;
    if (!existsSync(dir)) return undefined;
    const exit = existsSync(join(dir, 'exit')) ? readFileSync(join(dir, 'exit'), 'utf8') : undefined;
    if (exit !== undefined) return { ...base, state: 'exited', exitCode: Number(exit.split(' ')[0]) };
    if (state.silentExit) return { ...base, state: 'exited', exitCode: 255 };
    return { ...base, state: 'running', exitCode: undefined };
  };
  const gone = (): Error => Object.assign(new Error('no exec task t1'), { code: 'NOT_FOUND' });
  return { dir, state, read, gone };
}
type Tap = { teardown(fn: () => void): void };

/** The handles a wait could leak: its fs.watch and its timer (a closed watch is released at the next loop turn). */
async function handles(): Promise<{ watches: number; timers: number }> {
  await sleep(10);
  const all = process.getActiveResourcesInfo();
  return { watches: all.filter((r) => r === 'FSEventWrap').length, timers: all.filter((r) => r === 'Timeout').length };
}

/** The supervisor's way of recording an exit. */
function recordExit(dir: string, code: number): void {
  writeFileSync(join(dir, 'exit.tmp'), `${code} 1718000000.5\n`);
  renameSync(join(dir, 'exit.tmp'), join(dir, 'exit'));
}

t.test('the exit is learnt when `exit` appears, and log writes cause no state reads', async (t) => {
  const before = await handles();
  const task = fakeTask(t);
  const waiting = untilTaskExits(task);
  t.equal(task.state.reads, 1, 'one read when the wait begins');
  t.same(await handles(), { watches: before.watches + 1, timers: before.timers + 1 }, 'a watch and the resync timer while waiting');
  for (let i = 0; i < 50; i++) {
    appendFileSync(join(task.dir, 'stdout.log'), `1718000000.${i} line ${i}\n`);
    appendFileSync(join(task.dir, 'stderr.log'), `1718000000.${i} err ${i}\n`);
    if (i % 10 === 0) await sleep(10);
  }
  writeFileSync(join(task.dir, 'started'), '1718000000.1\n');
  await sleep(200);
  t.equal(task.state.reads, 1, 'still one read after 100 log writes');
  const t0 = Date.now();
  recordExit(task.dir, 3);
  t.equal(await waiting, 3, 'the exit code from the file');
  t.ok(Date.now() - t0 < 1000, `learnt in ${Date.now() - t0} ms (poll and resync are 60 s)`);
  t.equal(task.state.reads, 2, 'one more read, for the exit');
  t.same(await handles(), before, 'no watch or timer left');
});

t.test('an exit recorded before the wait is answered at once', async (t) => {
  const before = await handles();
  const task = fakeTask(t);
  recordExit(task.dir, 0);
  t.equal(await untilTaskExits(task), 0);
  t.same(await handles(), before, 'no watch or timer left');
});

t.test('a supervisor killed without recording the exit is caught by the resync', async (t) => {
  Object.assign(tunables, { execExitResyncMs: 200 });
  t.teardown(() => Object.assign(tunables, { execExitResyncMs: 60_000 }));
  const before = await handles();
  const task = fakeTask(t);
  const t0 = Date.now();
  const waiting = untilTaskExits(task);
  await sleep(50);
  task.state.silentExit = true;
  t.equal(await waiting, 255, 'reported exited, status unknown');
  t.ok(Date.now() - t0 < 1000, `within one resync (${Date.now() - t0} ms; resync 200 ms ± 25 %)`);
  t.same(await handles(), before, 'no watch or timer left');
});

t.test('a removed task rejects as not found; a missing one at once', async (t) => {
  const before = await handles();
  const task = fakeTask(t);
  const waiting = untilTaskExits(task);
  await sleep(20);
  const t0 = Date.now();
  rmSync(task.dir, { recursive: true, force: true });
  await t.rejects(waiting, { code: 'NOT_FOUND' }, 'rejects when its directory goes');
  t.ok(Date.now() - t0 < 1000, `at once (${Date.now() - t0} ms)`);
  await t.rejects(untilTaskExits(task), { code: 'NOT_FOUND' }, 'and a wait on it now rejects at once');
  t.same(await handles(), before, 'no watch or timer left');
});

t.test('an abort rejects and releases the watch and the timer', async (t) => {
  const before = await handles();
  const task = fakeTask(t);
  const ac = new AbortController();
  const waiting = untilTaskExits({ ...task, signal: ac.signal });
  await sleep(20);
  ac.abort();
  await t.rejects(waiting, { name: 'AbortError' }, 'rejects with the abort');
  t.same(await handles(), before, 'no watch or timer left');
  await t.rejects(untilTaskExits({ ...task, signal: ac.signal }), { name: 'AbortError' }, 'an already aborted signal rejects at once');
  t.same(await handles(), before, 'nothing left by that one either');
  recordExit(task.dir, 0);
  await sleep(100);
  t.equal(task.state.reads, 1, 'an exit after the abort is not read');
});
