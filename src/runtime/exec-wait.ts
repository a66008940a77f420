// How the exec runtime learns that a task has ended without polling it: the supervisor records the
// exit with `mv exit.tmp exit` in the task's directory, so an inotify watch on that directory
// (fs.watch) wakes the waiter exactly then, and only an event naming `exit` (or the record, or the
// directory itself going away) leads to a read of the task's state; log writes into the same
// directory wake nothing else. What inotify cannot see — a supervisor killed before it wrote `exit`,
// or an event lost to a full inotify queue — a slow, jittered resync per waiting task catches
// (tunables.execExitResyncMs). Where no watch can be set up (the inotify watch limit reached), the
// waiter falls back to reading the state every tunables.execWaitPollMs.
import { watch, type FSWatcher } from 'node:fs';
import { basename } from 'node:path';
import type { Logger } from '../util/log.js';
import { STATE_FILES } from './exec-state.js';
import type { RuntimeTask } from './runtime.js';
import { tunables } from '../config/tunables.js';

export interface ExitWaitOptions {
  /** The task's state directory, where the supervisor writes `exit`. */
  dir: string;
  /** The task's state now, or undefined when it no longer exists. */
  read: () => RuntimeTask | undefined;
  /** The error to reject with when the task no longer exists. */
  gone: () => Error;
  signal?: AbortSignal | undefined;
  log?: Logger | undefined;
}

/** Resolves with the task's exit code once it has exited; rejects when it is gone or the signal aborts. */
export function untilTaskExits(o: ExitWaitOptions): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const { signal } = o;
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    let watcher: FSWatcher | undefined;
    let timer: NodeJS.Timeout | undefined;
    let done = false;

    // Every way out goes through here: the watch, the timer and the abort listener never outlive the wait.
    const finish = (settle: () => void): void => {
      if (done) return;
      done = true;
      watcher?.close();
      watcher = undefined;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      settle();
    };
    const onAbort = (): void => finish(() => reject(signal!.reason));

    const check = (): void => {
      if (done) return;
      let task: RuntimeTask | undefined;
      try {
        task = o.read();
      } catch (err) {
        finish(() => reject(err));
        return;
      }
      if (!task) finish(() => reject(o.gone()));
      else if (task.state === 'exited') finish(() => resolve(task.exitCode ?? -1));
    };

    const schedule = (): void => {
      if (done) return;
      const ms = watcher ? jittered(tunables.execExitResyncMs) : tunables.execWaitPollMs;
      timer = setTimeout(() => {
        timer = undefined;
        check();
        schedule();
      }, ms);
    };

    const fallBack = (err: Error): void => {
      o.log?.warn({ dir: o.dir, err: err.message }, `cannot watch an exec task's directory; reading its state every ${tunables.execWaitPollMs} ms instead`);
      watcher?.close();
      watcher = undefined;
      if (timer) clearTimeout(timer);
      schedule();
    };

    signal?.addEventListener('abort', onAbort, { once: true });
    const wakers = new Set<string>([STATE_FILES.exit, STATE_FILES.record, basename(o.dir)]);
    try {
      watcher = watch(o.dir, (_event, name) => {
        if (name === null || wakers.has(name)) check();
      });
      watcher.on('error', (err) => {
        if (!done) fallBack(err);
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        finish(() => reject(o.gone()));
        return;
      }
      o.log?.warn({ dir: o.dir, err: (err as Error).message }, `cannot watch an exec task's directory; reading its state every ${tunables.execWaitPollMs} ms instead`);
    }
    check(); // after the watch is set up, so an exit recorded from here on is seen
    schedule();
  });
}

/** ms ± 25 %, so that the resyncs of tasks started together spread out instead of arriving at once. */
function jittered(ms: number): number {
  return Math.round(ms * (0.75 + Math.random() * 0.5));
}
