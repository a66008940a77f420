// The native addon and src/kernel/netns.ts against the real kernel: named namespaces as iproute2 sees
// them, per-namespace sysctls, and UDP/TCP servers that live in one namespace and nowhere else.
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { promisify } from 'node:util';
import t from 'tap';
import { createNetns, deleteNetns, listNetns, Netns, netnsExists } from '../../src/kernel/netns.js';
import { scratchNetns, sh, uniqueName } from '../lib/kernel.js';

const execFileP = promisify(execFile);

/** Runs a short node script inside a namespace (as a separate process) and returns its stdout. */
async function nodeIn(netns: string, script: string): Promise<string> {
  const { stdout } = await execFileP('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { timeout: 10000 });
  return stdout.trim();
}

t.test('named namespaces are created, listed and deleted where iproute2 sees them', async (t) => {
  const name = uniqueName('ns');
  t.teardown(() => { if (netnsExists(name)) deleteNetns(name); });
  createNetns(name);
  t.ok(listNetns().includes(name), 'listNetns shows it');
  t.match(sh('ip', ['netns', 'list']), new RegExp(`^${name}\\b`, 'm'), '`ip netns list` shows it');
  t.equal(sh('ip', ['-n', name, '-br', 'link']).trim().split('\n').length, 1, 'a new namespace has only lo');
  t.throws(() => createNetns(name), { code: 'EEXIST' }, 'creating it twice is EEXIST');
  deleteNetns(name);
  t.notOk(listNetns().includes(name), 'gone after delete');
  t.throws(() => deleteNetns(name), { code: 'ENOENT' }, 'deleting it twice is ENOENT');
  t.throws(() => createNetns('bad/name'), { code: 'EINVAL' }, 'a name with / is refused');
});

t.test('sysctls are per namespace', async (t) => {
  const { name, ns } = scratchNetns(t, 'sy');
  const self = Netns.open('self');
  t.teardown(() => self.close());
  const hostBefore = self.readSysctl('net.ipv4.ip_forward');
  ns.writeSysctl('net.ipv4.ip_forward', 1);
  t.equal(ns.readSysctl('net.ipv4.ip_forward'), '1', 'read back inside the namespace');
  t.equal(sh('ip', ['netns', 'exec', name, 'sysctl', '-n', 'net.ipv4.ip_forward']).trim(), '1', 'sysctl(8) in the namespace agrees');
  t.equal(self.readSysctl('net.ipv4.ip_forward'), hostBefore, 'the runner namespace is unchanged');
  t.throws(() => ns.readSysctl('net.ipv4.no_such_key'), { code: 'ENOENT' }, 'unknown key is ENOENT');
  t.throws(() => ns.readSysctl('../../etc/passwd'), { code: 'EINVAL' }, 'a path is not a sysctl name');
});

t.test('run() executes synchronously inside the namespace and returns to ours', async (t) => {
  const { ns } = scratchNetns(t, 'rn');
  const outside = Netns.open('self');
  t.teardown(() => outside.close());
  const inner = ns.run(() => sh('readlink', ['/proc/thread-self/ns/net']).trim());
  const own = sh('readlink', ['/proc/self/ns/net']).trim();
  t.not(inner, own, 'a child spawned inside run() is in the other namespace');
  t.throws(() => ns.run(() => { throw new Error('boom'); }), /boom/, 'errors propagate');
  t.equal(sh('readlink', ['/proc/self/ns/net']).trim(), own, 'and we are back home after a throw');
});

t.test('a UDP and a TCP server opened inside a namespace answer there and not outside', async (t) => {
  const { name, ns } = scratchNetns(t, 'sk');
  const port = 40000 + Math.floor(Math.random() * 20000);

  const server = net.createServer((c) => c.end('tcp-hello\n'));
  server.listen({ fd: ns.socket('tcp', '127.0.0.1', port) });
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((res) => server.close(() => res())));

  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, rinfo) => udp.send(`udp-${msg.toString()}`, rinfo.port, rinfo.address));
  const udpListening = once(udp, 'listening'); // bind({fd}) emits 'listening' synchronously
  udp.bind({ fd: ns.socket('udp', '127.0.0.1', port) });
  await udpListening;
  t.teardown(() => new Promise<void>((res) => udp.close(() => res())));

  const tcpInside = nodeIn(name, `require('net').connect(${port},'127.0.0.1').on('data',d=>{process.stdout.write(d);process.exit(0)})`);
  const udpInside = nodeIn(name, `const s=require('dgram').createSocket('udp4');s.on('message',m=>{console.log(m.toString());process.exit(0)});s.send('ping',${port},'127.0.0.1');setTimeout(()=>process.exit(3),3000)`);
  t.equal(await tcpInside, 'tcp-hello', 'TCP answers from inside the namespace');
  t.equal(await udpInside, 'udp-ping', 'UDP answers from inside the namespace');

  const outside = net.connect(port, '127.0.0.1');
  const [err] = (await once(outside, 'error')) as [NodeJS.ErrnoException];
  t.equal(err.code, 'ECONNREFUSED', 'TCP from the runner namespace is refused: nothing listens there');

  const probe = dgram.createSocket('udp4');
  t.teardown(() => probe.close());
  let answered = false;
  probe.on('message', () => { answered = true; });
  probe.send('ping', port, '127.0.0.1');
  await new Promise((r) => setTimeout(r, 300));
  t.notOk(answered, 'UDP from the runner namespace gets no answer');
});

t.test('socket() reports a typed error for an address the namespace does not have', async (t) => {
  const { ns } = scratchNetns(t, 'ea');
  t.throws(() => ns.socket('udp', '10.253.1.1', 53), { code: 'EADDRNOTAVAIL' });
  t.throws(() => ns.socket('udp', 'not-an-ip', 53), /not an IPv4 or IPv6 literal/);
});
