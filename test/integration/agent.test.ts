// The agent binary and the CLI against each other: the Docker-shaped /_ping and /version, -H and
// SHOAL_HOST, configuration precedence and validation, clear connection errors, SIGTERM shutdown,
// the socket's ownership, and the stock docker CLI talking to our API.
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { cli, startAgent, tempDir } from '../lib/agent.js';

function get(socket: string, path: string, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, path, method }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function startedLine(logs: string): Record<string, unknown> {
  const line = logs.split('\n').find((l) => l.includes('"agent started"'));
  if (!line) throw new Error(`no "agent started" line in:\n${logs}`);
  return JSON.parse(line) as Record<string, unknown>;
}

t.test('the API answers /_ping and /version as the Docker Engine API does', async (t) => {
  const agent = await startAgent(t, { args: ['--node-name', 'n1'] });
  for (const path of ['/_ping', '/v1.41/_ping', '/v1.24/_ping']) {
    const ping = await get(agent.socket, path);
    t.equal(ping.status, 200, `${path} status`);
    t.equal(ping.body, 'OK', `${path} body`);
    t.equal(ping.headers['api-version'], '1.41', `${path} Api-Version header`);
    t.equal(ping.headers['ostype'], 'linux');
  }
  const head = await get(agent.socket, '/_ping', 'HEAD');
  t.equal(head.status, 200, 'HEAD /_ping');
  t.equal(head.body, '', 'HEAD has no body');

  const version = await get(agent.socket, '/v1.41/version');
  const v = JSON.parse(version.body) as Record<string, unknown>;
  t.equal(version.headers['content-type'], 'application/json');
  t.match(v, { ApiVersion: '1.41', MinAPIVersion: '1.12', Os: 'linux', Platform: { Name: 'shoal' } });
  t.match(v.Components, [{ Name: 'Engine', Details: { ApiVersion: '1.41' } }]);

  const tooNew = await get(agent.socket, '/v9.99/version');
  t.equal(tooNew.status, 400);
  t.match(JSON.parse(tooNew.body), { message: /client version 9.99 is too new/ });
  const missing = await get(agent.socket, '/nothing/here');
  t.equal(missing.status, 404);
  t.same(JSON.parse(missing.body), { message: 'page not found' });
  const wrongMethod = await get(agent.socket, '/version', 'DELETE');
  t.equal(wrongMethod.status, 405);
});

t.test('shoal version talks to the agent named by -H or SHOAL_HOST', async (t) => {
  const agent = await startAgent(t);
  const byFlag = cli(['-H', `unix://${agent.socket}`, 'version']);
  t.equal(byFlag.status, 0, byFlag.stderr);
  t.match(byFlag.stdout, /^Client:\n Version: +\d+\.\d+\.\d+/);
  t.match(byFlag.stdout, /\nServer: shoal\n Engine:\n  Version: +\d+\.\d+\.\d+\n  API version: +1\.41 \(minimum version 1\.12\)/);

  const byEnv = cli(['version', '--format', 'json'], { SHOAL_HOST: `unix://${agent.socket}` });
  t.equal(byEnv.status, 0, byEnv.stderr);
  const json = JSON.parse(byEnv.stdout) as { Client: { ApiVersion: string }; Server: { ApiVersion: string } };
  t.equal(json.Client.ApiVersion, '1.41');
  t.equal(json.Server.ApiVersion, '1.41');

  const badHost = cli(['-H', 'tcp://127.0.0.1:2375', 'version']);
  t.equal(badHost.status, 1);
  t.match(badHost.stderr, /host 'tcp:\/\/127.0.0.1:2375' is not supported: use unix:\/\//);
});

t.test('a missing agent and an unreadable socket give errors that say what to do', async (t) => {
  const dir = tempDir(t, 'noagent');
  const none = cli(['-H', `unix://${join(dir, 'none.sock')}`, 'version']);
  t.equal(none.status, 1);
  t.match(none.stdout, /^Client:/, 'the client part is still shown, like docker version');
  t.match(none.stderr, /Cannot connect to the shoal agent at unix:\/\/.*none\.sock\. Is the agent running\?/);

  const agent = await startAgent(t);
  chmodSync(agent.dir, 0o755); // so that only the socket's own mode keeps others out
  t.equal(statSync(agent.socket).mode & 0o777, 0o660, 'the socket is root-only (0660)');
  const denied = cli(['-H', `unix://${agent.socket}`, 'version'], {}, '65534');
  t.equal(denied.status, 1);
  t.match(denied.stderr, /Permission denied while trying to connect to the shoal agent socket .* run the command as root/);
});

t.test('configuration: flags over environment over config file over defaults, validated before start', async (t) => {
  const dir = tempDir(t, 'cfg');
  const file = join(dir, 'shoal.json');
  writeFileSync(file, JSON.stringify({ nodeName: 'from-file', advertiseAddr: '192.168.56.9', runtime: 'exec' }));
  const a = await startAgent(t, { args: ['--config', file, '--node-name', 'from-flag', '--lb-backend', 'nftables'], env: { SHOAL_NODE_NAME: 'from-env', SHOAL_RUNTIME: 'docker' } });
  t.match(startedLine(a.logs()), { node: 'from-flag', advertiseAddr: '192.168.56.9', runtime: 'docker', lb: 'nftables (--lb-backend nftables)' });
  await a.stop();

  const b = await startAgent(t, { args: ['--config', file], env: { SHOAL_NODE_NAME: 'from-env' } });
  t.match(startedLine(b.logs()), { node: 'from-env', runtime: 'exec' });
  await b.stop();

  const bad = [
    [['--advertise-addr', 'not-an-ip'], /invalid advertise address 'not-an-ip'/],
    [['--runtime', 'podman'], /invalid runtime 'podman': use one of auto, docker, exec/],
    [['--node-name', '-x'], /invalid node name '-x'/],
    [['--data-dir', 'relative'], /data dir 'relative' must be an absolute path/],
    [['--lb-backend', 'lvs'], /invalid lb backend 'lvs': use one of auto, ipvs, nftables/],
    // Only where IPVS can be neither found nor loaded (this machine's kernel); elsewhere the agent would start.
    ...(!existsSync('/proc/net/ip_vs') && !existsSync('/proc/modules') ? [[['--lb-backend', 'ipvs'], /--lb-backend ipvs: IPVS is not available on this kernel \(this kernel has no ip_vs and cannot load modules.*\); use --lb-backend auto or nftables/]] as const : []),
  ] as const;
  for (const [args, message] of bad) {
    const r = cli(['agent', '-H', `unix://${join(dir, 'x.sock')}`, '--data-dir', join(dir, 'd'), ...args]);
    t.equal(r.status, 1, `${args.join(' ')} is refused`);
    t.match(r.stderr, message);
    t.notOk(existsSync(join(dir, 'x.sock')), 'nothing was started');
  }
  writeFileSync(file, JSON.stringify({ nodename: 'typo' }));
  const typo = cli(['agent', '-H', `unix://${join(dir, 'x.sock')}`, '--config', file]);
  t.match(typo.stderr, /unknown key 'nodename'/);
});

t.test('SIGTERM stops the agent cleanly and removes its socket; one socket, one agent', async (t) => {
  const first = await startAgent(t);
  const second = cli(['agent', '-H', `unix://${first.socket}`, '--data-dir', join(first.dir, 'd2')]);
  t.equal(second.status, 1, 'a second agent on the same socket is refused');
  t.match(second.stderr, /another agent is already serving/);
  t.equal((await get(first.socket, '/_ping')).body, 'OK', 'the first agent still serves');

  t.equal(await first.stop(), 0, 'exit code 0 on SIGTERM');
  t.match(first.logs(), /"agent stopped"/);
  t.notOk(existsSync(first.socket), 'socket removed');

  // a stale socket file (agent killed with -9) does not stop the next start
  const killed = await startAgent(t);
  killed.proc.kill('SIGKILL');
  await killed.stop();
  t.ok(existsSync(killed.socket), 'kill -9 leaves the socket file');
  const next = await startAgent(t, { socket: killed.socket });
  t.equal((await get(next.socket, '/_ping')).body, 'OK', 'the next agent replaces the stale socket');
});

const hasDockerCli = spawnSync('docker', ['--version']).status === 0;

t.test('the stock docker CLI can talk to the agent', { skip: hasDockerCli ? false : 'docker CLI not installed' }, async (t) => {
  const agent = await startAgent(t);
  const r = spawnSync('docker', ['-H', `unix://${agent.socket}`, 'version', '--format', '{{.Server.APIVersion}} {{.Server.Os}}'], { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: agent.dir } });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout.trim(), '1.41 linux');
});
