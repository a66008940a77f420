// Polling for tests that wait on a distributed system: until(what, fn, timeout) resolves with how long
// it took once fn() returns a truthy value, and fails naming what it waited for.
import { setTimeout as sleep } from 'node:timers/promises';

export async function until<T>(what: string, fn: () => T | undefined | false, timeoutMs: number, everyMs = 100): Promise<{ value: T; ms: number }> {
  const start = Date.now();
  for (;;) {
    const value = fn();
    if (value) return { value, ms: Date.now() - start };
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
