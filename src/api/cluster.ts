// What the cluster-state endpoints (networks, services, tasks, logs) need before they can answer:
// a manager node whose controllers are running. One place, so every endpoint refuses the same way.
import type { Swarm } from '../cluster/swarm.js';
import type { RunningNode } from '../controllers/node.js';
import { ApiError } from './http.js';

export type Running = () => RunningNode | undefined;

export function requireRunning(swarm: Swarm, node: Running): RunningNode {
  swarm.requireManager();
  const r = node();
  if (!r) throw new ApiError(503, 'this node is still starting its controllers; try again in a moment');
  return r;
}
