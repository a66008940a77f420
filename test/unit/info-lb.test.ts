// `shoal info` shows the node's load-balancer backend and why, from /info's LoadBalancer (shoal's
// field), and says nothing of it when an older agent's /info has none.
import t from 'tap';
import type { ApiClient } from '../../src/cli/client.js';
import { infoCommand } from '../../src/cli/commands/swarm.js';

const info = (lb: unknown) => ({ Name: 'node1', ServerVersion: '0.1.0', LoadBalancer: lb, Swarm: { LocalNodeState: 'inactive', NodeID: '', NodeAddr: '', ControlAvailable: false } });
const client = (body: unknown) => ({ get: async () => ({ status: 200, body }) }) as unknown as ApiClient;

t.test('the backend and its reason', async (t) => {
  const lines: string[] = [];
  await infoCommand(client(info({ Backend: 'nftables', Reason: 'nftables (ip_vs not available: this kernel has no ip_vs)' })), 'text', (s) => lines.push(s));
  t.match(lines.join('\n'), /^ Load Balancer: nftables \(ip_vs not available: this kernel has no ip_vs\)$/m);
  const ipvs: string[] = [];
  await infoCommand(client(info({ Backend: 'ipvs', Reason: 'ipvs' })), 'text', (s) => ipvs.push(s));
  t.match(ipvs.join('\n'), /^ Load Balancer: ipvs$/m, 'the line the VM test looks for');
  const none: string[] = [];
  await infoCommand(client(info(null)), 'text', (s) => none.push(s));
  t.notMatch(none.join('\n'), /Load Balancer/, 'no backend chosen yet: no line');
});
