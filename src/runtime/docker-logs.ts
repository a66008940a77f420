// Docker's multiplexed log stream (no TTY) as log lines: frames of an 8-byte header (stream type,
// three zero bytes, big-endian payload length) and a payload; with timestamps on, every line starts
// with an RFC 3339 time and a space. Lines may be split across frames and frames across chunks.
import type { LogLine } from './runtime.js';

const HEADER = 8;
const STREAMS: Record<number, LogLine['stream'] | undefined> = { 1: 'stdout', 2: 'stderr' };

/** Turns chunks of a multiplexed stream into lines; feed chunks in order, then call end(). */
export class DockerLogDemuxer {
  private pending: Buffer = Buffer.alloc(0);
  private readonly partial: Record<LogLine['stream'], string> = { stdout: '', stderr: '' };

  push(chunk: Buffer): LogLine[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: LogLine[] = [];
    while (this.pending.length >= HEADER) {
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < HEADER + size) break;
      const stream = STREAMS[this.pending[0] ?? 0];
      const payload = this.pending.subarray(HEADER, HEADER + size).toString('utf8');
      this.pending = this.pending.subarray(HEADER + size);
      if (stream) out.push(...this.lines(stream, payload));
    }
    return out;
  }

  /** Whatever was left without a final newline. */
  end(): LogLine[] {
    const out: LogLine[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream] !== '') out.push(parseTimestamped(stream, this.partial[stream]));
      this.partial[stream] = '';
    }
    return out;
  }

  private lines(stream: LogLine['stream'], payload: string): LogLine[] {
    const parts = (this.partial[stream] + payload).split('\n');
    this.partial[stream] = parts.pop() ?? '';
    return parts.map((p) => parseTimestamped(stream, p));
  }
}

/** `2024-05-01T10:00:00.123456789Z text` -> { time, line }; a line without a time keeps it empty. */
export function parseTimestamped(stream: LogLine['stream'], text: string): LogLine {
  const space = text.indexOf(' ');
  const head = space < 0 ? text : text.slice(0, space);
  if (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(head)) {
    return { stream, time: head, line: space < 0 ? '' : text.slice(space + 1) };
  }
  return { stream, time: '', line: text };
}

/** Lines from a multiplexed stream, ending when it ends (or is destroyed by an abort). */
export async function* demuxLines(stream: AsyncIterable<Buffer | string> | Iterable<Buffer>): AsyncGenerator<LogLine> {
  const demux = new DockerLogDemuxer();
  try {
    for await (const chunk of stream) yield* demux.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err;
  }
  yield* demux.end();
}
