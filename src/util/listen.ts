// Starting a socket or server: resolves once it listens, rejects with the bind error (address in
// use, permission) instead of letting it surface later as an unhandled 'error' event.
import type { EventEmitter } from 'node:events';

/**
 * Calls start() and waits for 'listening' or the first 'error'. With afterwards set, later errors
 * (an accept that fails on EMFILE, say) go there instead of crashing the process.
 */
export function whenListening(emitter: EventEmitter, start: () => void, afterwards?: (err: Error) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    emitter.once('error', onError);
    emitter.once('listening', () => {
      emitter.off('error', onError);
      if (afterwards) emitter.on('error', afterwards);
      resolve();
    });
    start();
  });
}
