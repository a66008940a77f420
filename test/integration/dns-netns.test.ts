// src/dns inside network namespaces, with real tools: a listener on 127.0.0.11:53 inside a scratch
// namespace answers `dig @127.0.0.11` run there with `ip netns exec` (UDP, TCP, a truncated answer
// that dig retries over TCP), and nothing outside; one server serves many namespaces with different
// views at once; forwarding goes to a real dnsmasq inside the namespace (a forwarded name resolves,
// a big answer truncated over UDP is retried over TCP, dead upstreams give SERVFAIL within the
// budget). All traffic stays inside namespaces the test creates; all of them and every process are
// removed on teardown, also on failure.
import { execFile } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { probe } from '../../src/dns/client.js';
import { DnsServer } from '../../src/dns/server.js';
import type { Zone } from '../../src/dns/zones.js';
import { scratchNetns, sh, spawnInNetns, type Teardown } from '../lib/kernel.js';
import { until } from '../lib/wait.js';

const execFileP = promisify(execFile);

/** dig run inside a namespace, asynchronously (the server under test shares this event loop). */
async function dig(netns: string, args: string[]): Promise<string> {
  const { stdout } = await execFileP('ip', ['netns', 'exec', netns, 'dig', '@127.0.0.11', '+tries=1', '+time=3', ...args], { timeout: 15_000 });
  return stdout;
}

async function digShort(netns: string, args: string[]): Promise<string[]> {
  return (await dig(netns, ['+short', ...args])).trim().split('\n').filter(Boolean);
}

function tmpDir(t: Teardown): string {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-dns-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const BIG = Array.from({ length: 100 }, (_, i) => `198.51.100.${i + 1}`);

/** dnsmasq inside netns on 127.0.0.1:53, answering from a hosts file, UDP answers capped at 1232 bytes. */
async function startDnsmasq(t: Teardown, netns: string): Promise<{ pid: number; kill: () => Promise<void> }> {
  const dir = tmpDir(t);
  const hosts = join(dir, 'hosts');
  writeFileSync(hosts, ['192.0.2.80 upstream.test', ...BIG.map((ip) => `${ip} big.upstream.test`)].join('\n') + '\n');
  const child = await spawnInNetns(t, netns, ['dnsmasq', '-k', '-C', '/dev/null', '--pid-file=', '--user=root', '--no-resolv', '--no-hosts', `--addn-hosts=${hosts}`,
    '--listen-address=127.0.0.1', '--port=53', '--bind-interfaces', '--edns-packet-max=1232', '--local-ttl=60']);
  await until('dnsmasq answering', () => {
    try {
      return sh('ip', ['netns', 'exec', netns, 'dig', '@127.0.0.1', '+short', '+tries=1', '+time=1', 'upstream.test']).includes('192.0.2.80');
    } catch {
      return false;
    }
  }, 5000);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return { pid: child.pid, kill: async () => { child.kill('SIGKILL'); await exited; } };
}

function clusterZone(id: string, name: string, web: string): Zone {
  return {
    id,
    name,
    names: new Map([
      ['web', { a: [web] }],
      ['tasks.web', { a: ['10.0.7.1', '10.0.7.2', '10.0.7.3'], shuffle: true }],
      ['tasks.many', { a: Array.from({ length: 60 }, (_, i) => `10.0.8.${i + 1}`), shuffle: true }],
    ]),
    ptr: new Map([['10.0.7.1', `web.1.abc.${name}`]]),
  };
}

t.test('a listener on 127.0.0.11:53 inside a namespace answers dig there, over UDP and TCP', async (t) => {
  const { name, ns } = scratchNetns(t, 'dn');
  const server = new DnsServer();
  t.teardown(() => server.close());
  server.zones.set(clusterZone('net1', 'front', '10.0.7.100'));
  const l = await server.listen({ netns: ns, address: '127.0.0.11', port: 53, view: ['net1'] });
  t.equal(l.port, 53);

  t.same(await digShort(name, ['web']), ['10.0.7.100'], 'UDP');
  t.same(await digShort(name, ['+tcp', 'web.front']), ['10.0.7.100'], 'TCP');
  t.same((await digShort(name, ['tasks.web'])).sort(), ['10.0.7.1', '10.0.7.2', '10.0.7.3']);
  t.same(await digShort(name, ['-x', '10.0.7.1']), ['web.1.abc.front.'], 'PTR');
  const aaaa = await dig(name, ['web', 'AAAA']);
  t.match(aaaa, /status: NOERROR/);
  t.match(aaaa, /ANSWER: 0,/);
  const big = await dig(name, ['+noedns', 'tasks.many']);
  t.match(big, /Truncated, retrying in TCP mode/, 'dig saw TC over UDP');
  t.match(big, /ANSWER: 60,/, 'and got all 60 over TCP');
  t.equal(server.stats.udp.truncated, 1);
  t.ok(server.stats.tcp.local >= 2);

  // Nothing outside the namespace: the runner's 127.0.0.11:53 is not ours.
  const outside = await probe({ address: '127.0.0.11', port: 53 }, 'web', 'A', { timeoutMs: 300 }).catch(() => undefined);
  t.notOk(outside?.packet.answers?.some((a) => 'data' in a && a.data === '10.0.7.100'), 'no answer from us outside the namespace');
});

t.test('one server, many namespaces, each with its own view', async (t) => {
  const server = new DnsServer();
  t.teardown(() => server.close());
  const spaces = Array.from({ length: 12 }, (_, i) => scratchNetns(t, 'dv'));
  spaces.forEach((_, i) => server.zones.set(clusterZone(`net${i}`, `n${i}`, `10.1.${i}.1`)));
  await Promise.all(spaces.map((s, i) => server.listen({ netns: s.ns, address: '127.0.0.11', port: 53, view: [`net${i}`, `net${(i + 1) % spaces.length}`] })));
  const answers = await Promise.all(spaces.map((s) => digShort(s.name, ['web'])));
  t.same(answers, spaces.map((_, i) => [`10.1.${i}.1`]), 'each namespace answers from the first network of its own view');
  const second = await Promise.all(spaces.map((s, i) => digShort(s.name, [`web.n${(i + 1) % spaces.length}`])));
  t.same(second, spaces.map((_, i) => [`10.1.${(i + 1) % spaces.length}.1`]), 'and <name>.<network> from its second');
  server.zones.set(clusterZone('net0', 'n0', '10.1.0.99'));
  t.same(await digShort(spaces[0]!.name, ['web']), ['10.1.0.99'], 'a zone change is seen at once');
  t.same(await digShort(spaces[spaces.length - 1]!.name, ['web.n0']), ['10.1.0.99'], 'by every view that has that network');
});

t.test('forwarding to a real dnsmasq inside the namespace', async (t) => {
  const { name, ns } = scratchNetns(t, 'df');
  const dnsmasq = await startDnsmasq(t, name);
  const server = new DnsServer({ forwarder: { netns: ns, upstreams: ['127.0.0.1:53'], upstreamTimeoutMs: 1000, forwardBudgetMs: 2000 } });
  t.teardown(() => server.close());
  server.zones.set(clusterZone('net1', 'front', '10.0.7.100'));
  await server.listen({ netns: ns, address: '127.0.0.11', port: 53, view: ['net1'] });

  t.same(await digShort(name, ['upstream.test']), ['192.0.2.80'], 'a forwarded name resolves');
  t.same(await digShort(name, ['web']), ['10.0.7.100'], 'cluster names still answered locally');
  t.same(await digShort(name, ['+tcp', 'upstream.test']), ['192.0.2.80'], 'over TCP too');
  t.equal(server.stats.udp.forwarded, 1);
  t.equal(server.stats.tcp.forwarded, 1);

  const big = await dig(name, ['+bufsize=4096', 'big.upstream.test']);
  t.match(big, /ANSWER: 100,/, 'the whole big answer');
  t.notMatch(big, /Truncated/, 'over UDP to dig');
  t.equal(server.forwarder?.stats.tcpRetries, 1, 'after dnsmasq truncated it at 1232 bytes and we asked again over TCP');
  const plain = await dig(name, ['+noedns', 'big.upstream.test']);
  t.match(plain, /Truncated, retrying in TCP mode/, 'without EDNS the client gets TC');
  t.match(plain, /ANSWER: 100,/, 'and the answer over TCP');

  await dnsmasq.kill();
  const t0 = Date.now();
  const dead = await dig(name, ['upstream.test']);
  t.match(dead, /status: SERVFAIL/, 'with dnsmasq gone: SERVFAIL');
  t.ok(Date.now() - t0 < 2000, `within the budget (${Date.now() - t0} ms)`);
});

t.test('upstreams that never answer: SERVFAIL within the budget', async (t) => {
  const { name, ns } = scratchNetns(t, 'dd');
  // 10.77.0.2 is behind a veth whose other end has no address: ARP goes unanswered and the
  // queries vanish; nothing ever answers or refuses.
  sh('ip', ['-n', name, 'link', 'add', 'bh0', 'type', 'veth', 'peer', 'name', 'bh1']);
  sh('ip', ['-n', name, 'addr', 'add', '10.77.0.1/24', 'dev', 'bh0']);
  sh('ip', ['-n', name, 'link', 'set', 'bh0', 'up']);
  sh('ip', ['-n', name, 'link', 'set', 'bh1', 'up']);
  const server = new DnsServer({ forwarder: { netns: ns, upstreams: ['10.77.0.2', '127.0.0.99:53'], upstreamTimeoutMs: 400, forwardBudgetMs: 1500 } });
  t.teardown(() => server.close());
  await server.listen({ netns: ns, address: '127.0.0.11', port: 53, view: [] });
  const t0 = Date.now();
  t.match(await dig(name, ['nowhere.test']), /status: SERVFAIL/);
  const ms = Date.now() - t0;
  t.ok(ms >= 380 && ms < 1500, `after the silent one's 400 ms and the refused one at once (${ms} ms)`);
  t.equal(server.forwarder?.stats.timeouts, 1);
  t.equal(server.forwarder?.stats.errors, 1);
  t.equal(server.stats.udp.servfail, 1);
});
