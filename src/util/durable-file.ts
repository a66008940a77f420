// Files that survive a crash at any moment: the whole content is written under a temporary name with
// its final mode, flushed to disk, renamed over the old file, and the directory flushed too, so after
// a power cut or kill -9 the path holds either the old content or the new, never a truncated mix, and
// the rename itself is on disk. For small state files (identity, certificates, local state).
import { chmodSync, closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';

export function writeFileDurably(path: string, content: string | Uint8Array, mode = 0o600): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const bytes = typeof content === 'string' ? Buffer.from(content) : content;
  try {
    const fd = openSync(tmp, 'wx', mode);
    try {
      for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, mode); // the umask may have narrowed it; never widened
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  syncDirectory(dirname(path));
}

/** Flushes a directory's entries (a rename or a new file in it) to disk. */
export function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
