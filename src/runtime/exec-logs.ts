// An exec task's logs: the supervisor writes "EPOCH LINE" per line into stdout.log and stderr.log;
// this reads them back merged in time order, the last N when asked, and follows them (polling for
// growth) until the task has exited and the last lines are read, or the caller aborts.
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { epochToRfc3339 } from './exec-state.js';
import type { LogLine, LogOptions } from './runtime.js';
import { tunables } from '../config/tunables.js';

/** Reads one log file from where it last stopped, returning whole lines only. */
class LogFile {
  private offset = 0;
  private rest: Buffer = Buffer.alloc(0);

  constructor(
    private readonly path: string,
    private readonly stream: LogLine['stream'],
  ) {}

  async readNew(): Promise<LogLine[]> {
    let handle;
    try {
      handle = await open(this.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const chunks: Buffer[] = [this.rest];
    try {
      for (;;) {
        const buf = Buffer.alloc(64 * 1024);
        const { bytesRead } = await handle.read(buf, 0, buf.length, this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        chunks.push(buf.subarray(0, bytesRead));
      }
    } finally {
      await handle.close();
    }
    const all = Buffer.concat(chunks);
    const end = all.lastIndexOf(0x0a);
    this.rest = end < 0 ? all : all.subarray(end + 1);
    if (end < 0) return [];
    return all.subarray(0, end).toString('utf8').split('\n').map((l) => parseLine(this.stream, l));
  }
}

/** "1718000000.123456 text" -> a LogLine. */
export function parseLine(stream: LogLine['stream'], raw: string): LogLine {
  const space = raw.indexOf(' ');
  const time = space < 0 ? undefined : epochToRfc3339(raw.slice(0, space));
  return time === undefined ? { stream, time: '', line: raw } : { stream, time, line: raw.slice(space + 1) };
}

function merge(a: LogLine[], b: LogLine[]): LogLine[] {
  return [...a, ...b].sort((x, y) => (x.time < y.time ? -1 : x.time > y.time ? 1 : 0));
}

/**
 * The task's lines. `exited()` tells whether the task has ended (its exit status recorded); a
 * follow ends after the first read that started once it had.
 */
export async function* readExecLogs(paths: { stdout: string; stderr: string }, options: LogOptions, exited: () => boolean): AsyncGenerator<LogLine> {
  const out = new LogFile(paths.stdout, 'stdout');
  const err = new LogFile(paths.stderr, 'stderr');
  let done = exited();
  let first = merge(await out.readNew(), await err.readNew());
  if (options.tail !== undefined) first = options.tail <= 0 ? [] : first.slice(-options.tail);
  yield* first;
  if (!options.follow) return;
  while (!done && !options.signal?.aborted) {
    try {
      await sleep(tunables.execLogFollowPollMs, undefined, { signal: options.signal });
    } catch {
      return; // aborted
    }
    done = exited();
    yield* merge(await out.readNew(), await err.readNew());
  }
}
