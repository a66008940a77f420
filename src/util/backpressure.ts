// Waiting for a stream to take more: until it drains, or until it closes (a client that went away
// never drains, and a writer waiting for it would hold its source open for ever).
import type { Writable } from 'node:stream';

/** Resolves true once the stream drains, false if it closes (or is already closed) first. */
export function drainedOrClosed(stream: Writable): Promise<boolean> {
  if (stream.destroyed || stream.closed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onDrain = () => { cleanup(); resolve(true); };
    const onClose = () => { cleanup(); resolve(false); };
    const cleanup = () => { stream.off('drain', onDrain); stream.off('close', onClose); stream.off('error', onClose); };
    stream.on('drain', onDrain);
    stream.on('close', onClose);
    stream.on('error', onClose);
  });
}
