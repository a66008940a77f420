// --cert-expiry through the Engine API, as Docker has it: /swarm shows Spec.CAConfig.NodeCertExpiry in
// nanoseconds; /swarm/update takes the Spec the docker CLI read back with its change (other fields as
// it sends them) and the version it read; under an hour is refused with swarmkit's words before
// anything changes; `shoal info` shows Docker's "CA Configuration" lines. The swarm is a fake that
// keeps what it is told.
import t from 'tap';
import { addSwarmRoutes } from '../../src/api/swarm.js';
import { ApiError, type ApiRequest } from '../../src/api/http.js';
import { Router } from '../../src/api/router.js';
import type { ApiClient } from '../../src/cli/client.js';
import { infoCommand, swarmUpdate } from '../../src/cli/commands/swarm.js';
import type { Swarm } from '../../src/cluster/swarm.js';
import type { AgentConfig } from '../../src/config/agent-config.js';
import type { ClusterSettings } from '../../src/model/cluster.js';
import type { Logger } from '../../src/util/log.js';

const H_NS = 3600e9;

function fakeSwarm() {
  const state = { settings: { id: 'c1', createdAt: '2026-12-01T00:00:00Z', caDigest: 'd', defaultAddrPool: ['10.0.0.0/8'], subnetSize: 24, gossip: { keys: ['k'], primary: 'k', rotatedAt: '2026-12-01T00:00:00Z' } } as ClusterSettings, index: 7, writes: 0 };
  const swarm = {
    active: true, nodeId: 'n1',
    requireManager() {},
    clusterSettings: () => state.settings,
    settingsIndex: () => state.index,
    joinTokens: () => ({ Worker: 'w', Manager: 'm' }),
    async setCertExpiry(ms: number) { state.settings = { ...state.settings, nodeCertExpiryMs: ms }; state.index++; state.writes++; },
    nodeRecords: () => [{ id: 'n1', role: 'manager' }],
    selfAddr: () => '192.168.56.101', gossipKeyring: () => undefined, refusedEntries: () => 0,
  } as unknown as Swarm;
  return { swarm, state };
}

function api(swarm: Swarm) {
  const router = new Router();
  addSwarmRoutes(router, swarm, { nodeName: 'node1' } as AgentConfig, {} as Logger);
  return async (method: string, url: string, body?: unknown) => {
    const u = new URL(url, 'http://x');
    const m = router.match(method, u.pathname);
    const req = { method, path: u.pathname, version: undefined, params: m.params, query: u.searchParams, headers: {}, body } as ApiRequest;
    return ((await m.handler(req)) as { body: unknown }).body;
  };
}

t.test('GET /swarm and /info show NodeCertExpiry in nanoseconds; the default is 2160h', async (t) => {
  const { swarm } = fakeSwarm();
  const call = api(swarm);
  t.same((await call('GET', '/swarm') as { Spec: unknown }).Spec, { Name: 'default', CAConfig: { NodeCertExpiry: 2160 * H_NS } });
  t.same((await call('GET', '/info') as { Swarm: { Cluster: unknown } }).Swarm.Cluster, { ID: 'c1', Spec: { Name: 'default', CAConfig: { NodeCertExpiry: 2160 * H_NS } } }, 'on a manager, /info carries the Spec as Docker\'s does');
});

t.test('POST /swarm/update with the docker CLI\'s body: the Spec read back, changed, with its version', async (t) => {
  const { swarm, state } = fakeSwarm();
  const call = api(swarm);
  const spec = { Name: 'default', Labels: {}, Orchestration: { TaskHistoryRetentionLimit: 5 }, Raft: { SnapshotInterval: 10000 }, Dispatcher: { HeartbeatPeriod: 5e9 }, CAConfig: { NodeCertExpiry: 30 * 60e9 } };
  await t.rejects(call('POST', '/swarm/update?version=7', spec), new ApiError(400, 'rpc error: code = InvalidArgument desc = minimum certificate expiry time is: 1h0m0s'), '30m is refused with swarmkit\'s words');
  t.equal(state.writes, 0, 'and nothing was written');
  await t.rejects(call('POST', '/swarm/update?version=7', { CAConfig: { NodeCertExpiry: '1h' } }), { status: 400, message: /NodeCertExpiry must be a duration in nanoseconds/ }, 'a string is not a duration');
  await t.rejects(call('POST', '/swarm/update?version=6', { ...spec, CAConfig: { NodeCertExpiry: H_NS } }), { status: 409, message: /update out of sequence: the swarm is at version 7, not 6/ }, 'a stale version is refused');
  t.equal(state.writes, 0);
  await call('POST', '/swarm/update?version=7', { ...spec, CAConfig: { NodeCertExpiry: H_NS } });
  t.equal(state.settings.nodeCertExpiryMs, 3600_000, '1h is kept, in ms');
  await call('POST', '/swarm/update?version=8', { ...spec, CAConfig: { NodeCertExpiry: 0 } });
  t.equal(state.settings.nodeCertExpiryMs, 3600_000, '0 means "not set", as Docker\'s daemon reads it: unchanged');
  t.same((await call('GET', '/swarm') as { Spec: unknown }).Spec, { Name: 'default', CAConfig: { NodeCertExpiry: H_NS } });
});

t.test('POST /swarm/init refuses a short --cert-expiry before anything is made', async (t) => {
  const { swarm } = fakeSwarm();
  let inits = 0;
  Object.assign(swarm, { active: false, init: async () => { inits++; return 'n1'; } });
  const call = api(swarm);
  await t.rejects(call('POST', '/swarm/init', { AdvertiseAddr: '192.168.56.101', Spec: { CAConfig: { NodeCertExpiry: 59 * 60e9 } } }), { status: 400, message: /minimum certificate expiry time is: 1h0m0s/ });
  t.equal(inits, 0);
});

t.test('the CLI: swarm update --cert-expiry sends the Spec it read with its version; info shows the expiry as Docker', async (t) => {
  const sent: { path: string; body: unknown }[] = [];
  const client = {
    get: async () => ({ status: 200, body: { Version: { Index: 12 }, Spec: { Name: 'default', CAConfig: { NodeCertExpiry: 2160 * H_NS } } } }),
    request: async (_m: string, path: string, body: unknown) => { sent.push({ path, body }); return { status: 200, body: '' }; },
  } as unknown as ApiClient;
  const out: string[] = [];
  await swarmUpdate(client, { certExpiry: '720h' }, (s) => out.push(s));
  t.same(sent, [{ path: '/swarm/update?version=12', body: { Name: 'default', CAConfig: { NodeCertExpiry: 720 * H_NS } } }]);
  t.same(out, ['Swarm updated.']);
  await t.rejects(swarmUpdate(client, { certExpiry: 'soon' }, () => {}), { message: /invalid duration 'soon' for --cert-expiry/ });
  await t.rejects(swarmUpdate(client, {}, () => {}), { message: /nothing to update: give --cert-expiry DURATION or --rotate-gossip-key/ });

  const lines: string[] = [];
  const info = (ns: number) => ({ get: async () => ({ status: 200, body: { Name: 'node1', ServerVersion: '0.1.0', Swarm: { LocalNodeState: 'active', NodeID: 'n1', NodeAddr: '192.168.56.101', ControlAvailable: true, Managers: 1, Nodes: 1, Cluster: { ID: 'c1', Spec: { CAConfig: { NodeCertExpiry: ns } } } } } }) }) as unknown as ApiClient;
  await infoCommand(info(2160 * H_NS), 'text', (s) => lines.push(s));
  t.match(lines.join('\n'), /\n {2}Nodes: 1\n {2}CA Configuration:\n {3}Expiry Duration: 3 months\n {2}Node Address: 192\.168\.56\.101/);
  const hour: string[] = [];
  await infoCommand(info(H_NS), 'text', (s) => hour.push(s));
  t.match(hour.join('\n'), /Expiry Duration: About an hour/);
});
