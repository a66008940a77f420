// The state store interface's contract (test/lib/state-contract.ts) on the in-memory store and on the
// gossip-replicated tables.
import t from 'tap';
import { MemoryStateStore } from '../../src/store/memory-store.js';
import { ReplicatedStore } from '../../src/store/store.js';
import { GossipStateStore } from '../../src/store/table-store.js';
import { stateStoreContract } from '../lib/state-contract.js';

stateStoreContract(t, 'memory', () => new MemoryStateStore());
stateStoreContract(t, 'gossip', () => new GossipStateStore(new ReplicatedStore({ node: 'n1' })));
