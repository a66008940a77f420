// The agent's logger: pino JSON lines on stderr, or pino-pretty's readable lines on a terminal.
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogFormat, LogLevel } from '../config/defaults.js';

export type { Logger };

export function createLogger(opts: { level: LogLevel; format: LogFormat; name?: string; base?: Record<string, unknown> }): Logger {
  const usePretty = opts.format === 'pretty' || (opts.format === 'auto' && process.stderr.isTTY === true);
  const options = { level: opts.level, name: opts.name, base: { pid: process.pid, ...opts.base } };
  if (usePretty) {
    return pino(options, pretty({ destination: 2, colorize: process.stderr.isTTY === true, sync: true, ignore: 'pid,hostname' }));
  }
  return pino(options, pino.destination({ fd: 2, sync: true }));
}
