// Joining a cluster over TLS on the cluster port (2377), the way a Swarm token works: the joiner
// checks that the manager presents the CA whose digest is in the token (so a token cannot be replayed
// to an impostor) before it sends the token's secret; the manager checks the secret against the
// current worker and manager secrets and answers with what the new node needs: its ID and role, the
// CA, a node certificate signed from the joiner's CSR (its key never leaves it), the gossip keyring
// and peers. See docs/decisions/0005-join-handshake.md. This module gathers the three parts:
//   join-protocol.ts  the messages, their limits and checks, shared by both sides
//   join-server.ts    JoinServer, run by a manager that holds the CA key
//   join-client.ts    joinCluster, run by the joining node
export * from './join-protocol.js';
export * from './join-server.js';
export * from './join-client.js';
