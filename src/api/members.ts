// GET /members: the gossip pool as this node sees it (shoal's own endpoint; Docker has none).
import type { Memberlist } from '../cluster/memberlist.js';
import { ApiError } from './http.js';
import type { Router } from './router.js';

export function addMemberRoutes(router: Router, gossip: () => Memberlist | undefined): void {
  router.add('GET', '/members', () => {
    const g = gossip();
    if (!g) throw new ApiError(503, 'this node is not in a gossip pool: start the agent with --join-pool, or join a swarm');
    return {
      body: g.members.list().map((m) => ({ Name: m.name, Addr: m.addr, Port: m.port, Status: m.state === 'dead' ? 'failed' : m.state, Incarnation: m.incarnation, Protocol: m.vsn })),
    };
  });
}
