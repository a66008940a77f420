// A change the API makes as one guarded commit: the writes land together and only if what they were
// decided on is unchanged since this node read it (a name still free, an object still at the version
// the client read); otherwise nothing changes and the caller's conflict error is returned, as
// swarmkit's store refuses a stale update. On the managers' Raft store each write is guarded by the
// key's revision (src/store/etcd-store.ts); the in-memory and gossip stores apply the writes in order.
import type { Batch } from '../store/state.js';
import { StateError } from '../store/state.js';
import type { ApiError } from './http.js';

export async function commitGuarded(batch: Batch, write: (b: Batch) => void, conflict: () => ApiError): Promise<void> {
  write(batch);
  try {
    await batch.commit();
  } catch (err) {
    if (err instanceof StateError && err.reason === 'conflict') throw conflict();
    throw err;
  }
}
