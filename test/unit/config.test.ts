// Agent configuration: precedence of sources, validation messages, and -H parsing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { resolveAgentConfig, settingsFromEnv, settingsFromFile } from '../../src/config/agent-config.js';
import { defaults } from '../../src/config/defaults.js';
import { formatHost, parseHost } from '../../src/config/host.js';

t.test('defaults apply when nothing is set', async (t) => {
  const c = resolveAgentConfig();
  t.equal(c.apiSocket, '/run/shoal/shoal.sock');
  t.equal(c.dataDir, '/var/lib/shoal');
  t.equal(c.nodeName, defaults.nodeName);
  t.equal(c.runtime, 'auto');
  t.equal(c.lbBackend, 'auto', 'the load balancer: IPVS where the kernel has it, else nftables');
  t.equal(c.advertiseAddr, undefined);
});

t.test('later sources win, field by field', async (t) => {
  const c = resolveAgentConfig({ nodeName: 'a', runtime: 'exec', dataDir: '/d1' }, { nodeName: 'b' }, { runtime: 'docker' });
  t.match(c, { nodeName: 'b', runtime: 'docker', dataDir: '/d1' });
});

t.test('environment variables map to settings; empty ones are ignored', async (t) => {
  t.same(settingsFromEnv({ SHOAL_NODE_NAME: 'n', SHOAL_HOST: 'unix:///x.sock', SHOAL_RUNTIME: '', OTHER: 'y' }), { nodeName: 'n', host: 'unix:///x.sock' });
});

t.test('invalid values are refused with the field and the fix', async (t) => {
  t.throws(() => resolveAgentConfig({ advertiseAddr: '300.1.1.1' }), { message: /invalid advertise address '300.1.1.1'/ });
  t.throws(() => resolveAgentConfig({ lbBackend: 'lvs' }), { message: /invalid lb backend 'lvs': use one of auto, ipvs, nftables/ });
  t.same(settingsFromEnv({ SHOAL_LB_BACKEND: 'nftables' }), { lbBackend: 'nftables' });
  t.throws(() => resolveAgentConfig({ logLevel: 'loud' }), { message: /invalid log level 'loud': use one of fatal, error, warn, info, debug, trace/ });
  t.throws(() => resolveAgentConfig({ logFormat: 'xml' }), { message: /invalid log format 'xml'/ });
  t.throws(() => resolveAgentConfig({ nodeName: 'a b' }), { message: /invalid node name 'a b'/ });
  t.throws(() => resolveAgentConfig({ host: 'tcp://1.2.3.4:2375' }), { message: /not supported: use unix:\/\// });
  t.ok(resolveAgentConfig({ advertiseAddr: 'fd00::1' }), 'IPv6 advertise addresses are accepted');
});

t.test('config files: a JSON object of known string keys', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-cfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, 'c.json');
  writeFileSync(f, '{"nodeName":"x","host":"/run/a.sock"}');
  t.same(settingsFromFile(f), { nodeName: 'x', host: '/run/a.sock' });
  writeFileSync(f, '{"nodeName": 3}');
  t.throws(() => settingsFromFile(f), { message: /'nodeName' must be a string/ });
  writeFileSync(f, '[1]');
  t.throws(() => settingsFromFile(f), { message: /must hold a JSON object/ });
  writeFileSync(f, '{oops');
  t.throws(() => settingsFromFile(f), { message: /cannot read config file .*c\.json/ });
  t.throws(() => settingsFromFile(join(dir, 'missing.json')), { message: /cannot read config file .*missing\.json: ENOENT/ });
});

t.test('-H accepts unix:// URLs and absolute paths only', async (t) => {
  t.equal(parseHost(undefined), '/run/shoal/shoal.sock');
  t.equal(parseHost(''), '/run/shoal/shoal.sock');
  t.equal(parseHost('unix:///run/shoal/node1/shoal.sock'), '/run/shoal/node1/shoal.sock');
  t.equal(parseHost('/tmp/a.sock'), '/tmp/a.sock');
  t.throws(() => parseHost('unix://relative.sock'), { message: /absolute socket path/ });
  t.throws(() => parseHost('localhost:2375'), { message: /is not supported/ });
  t.equal(formatHost('/a/b.sock'), 'unix:///a/b.sock');
});

t.test('interop settings: pool addresses, gossip key and port are checked', async (t) => {
  const c = resolveAgentConfig({ advertiseAddr: '127.0.0.13', joinPool: '127.0.0.11:7946, 127.0.0.12:7946', gossipKey: Buffer.alloc(32).toString('base64'), gossipPort: '8946' });
  t.same(c.joinPool, ['127.0.0.11:7946', '127.0.0.12:7946']);
  t.equal(c.gossipPort, 8946);
  t.equal(resolveAgentConfig().gossipPort, 7946, 'Swarm and memberlist use 7946');
  t.throws(() => resolveAgentConfig({ advertiseAddr: '127.0.0.13', joinPool: 'serf-host:7946' }), { message: /invalid pool address 'serf-host:7946': give IP:PORT/ });
  t.throws(() => resolveAgentConfig({ joinPool: '127.0.0.11:7946' }), { message: /needs --advertise-addr/ });
  t.throws(() => resolveAgentConfig({ gossipKey: Buffer.alloc(10).toString('base64') }), { message: /16, 24 or 32 bytes/ });
  t.throws(() => resolveAgentConfig({ gossipPort: '70000' }), { message: /invalid gossip port/ });
});
