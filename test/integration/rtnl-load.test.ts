// The socket wrapper under load: the in-flight bound keeps the netlink package from aborting the
// process, dumps run alone so they neither fail with EBUSY nor get mixed up with other replies,
// and closing the socket fails what is still waiting instead of leaving it hanging.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import t from 'tap';
import { openRtnl, RTNL_DEFAULTS } from '../../src/kernel/rtnl.js';
import { bridgeJson, scratchRtnl } from '../lib/kernel.js';

/** The smallest SO_RCVBUF we can ask for (the kernel doubles it): makes overflow easy to reach. */
const SMALL_RCVBUF = 32 * 1024;
const N = 1000;

function mac(i: number): string {
  return `02:00:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
}

function fdbCount(netns: string, dev: string): number {
  return bridgeJson<{ mac: string; dst?: string }[]>(netns, ['fdb', 'show', 'dev', dev]).filter((e) => e.dst === '192.168.99.2').length;
}

t.test(`${N} FDB adds fired at once survive on a small receive buffer`, async (t) => {
  const { name } = scratchRtnl(t, 'ld');
  const rtnl = openRtnl({ name }, { recvBufferBytes: SMALL_RCVBUF });
  t.teardown(() => rtnl.close());
  await rtnl.links.addVxlan('vxlan0', { vni: 42 });

  await Promise.all(Array.from({ length: N }, (_, i) => rtnl.fdb.add('vxlan0', { mac: mac(i), dst: '192.168.99.2' })));
  t.equal(fdbCount(name, 'vxlan0'), N, `bridge fdb shows all ${N} entries`);
  const stats = rtnl.stats;
  t.ok(stats.peakInFlight <= RTNL_DEFAULTS.maxInFlight, `never more than ${RTNL_DEFAULTS.maxInFlight} in flight (peak ${stats.peakInFlight})`);
  t.ok(stats.peakCost <= stats.replyBudgetBytes, `replies in flight never needed more than ${stats.replyBudgetBytes} of the ${stats.recvBufferBytes}-byte buffer (peak ${stats.peakCost})`);
  t.ok(stats.peakInFlight > 1, 'but requests did overlap');
  t.equal(stats.inFlight + stats.queued, 0, 'nothing left waiting');
});

t.test('control: the bare netlink package aborts the process under the same load', async (t) => {
  const { name, rtnl } = scratchRtnl(t, 'lc');
  await rtnl.links.addVxlan('vxlan0', { vni: 42 });
  const { index } = await rtnl.links.get('vxlan0');
  const netlinkDir = dirname(createRequire(import.meta.url).resolve('netlink/package.json'));
  const script = `
    const nl = require(${JSON.stringify(netlinkDir)});
    const s = nl.createRtNetlink();
    s.socket.setRecvBufferSize(${SMALL_RCVBUF});
    const adds = [];
    for (let i = 0; i < ${N}; i++) {
      adds.push(s.newNeighbor({ family: 7, ifindex: ${index}, state: { permanent: true }, flags: { self: true } },
        { lladdr: Buffer.from([2, 0, 0, 0, i >> 8, i & 255]), dst: Buffer.from([192, 168, 99, 2]) },
        { flags: nl.FlagsNew.CREATE | nl.FlagsNew.EXCL }));
    }
    Promise.all(adds).then(() => process.exit(0), () => process.exit(1));`;
  // No core file from the expected abort; 'ip netns exec' execs, so the signal is node's own.
  const result = await new Promise<{ signal: string | null; stderr: string }>((resolve) => {
    execFile('sh', ['-c', 'ulimit -c 0; exec ip netns exec "$0" "$1" -e "$2"', name, process.execPath, script], { timeout: 20_000 }, (err, _stdout, stderr) => {
      resolve({ signal: (err as { signal?: string } | null)?.signal ?? null, stderr });
    });
  });
  t.equal(result.signal, 'SIGABRT', 'without a bound the package aborts (if this fails, netlink may be fixed: see docs/decisions/0002)');
  t.match(result.stderr, /Error in native callback/, 'from the C++ exception in its receive path');
});

t.test('dumps mixed into a stream of writes neither fail nor get mixed up', async (t) => {
  const { name, rtnl } = scratchRtnl(t, 'dm');
  await rtnl.links.addVxlan('vxlan0', { vni: 42 });
  const writes: Promise<void>[] = [];
  const dumps: Promise<number>[] = [];
  for (let i = 0; i < 400; i++) {
    writes.push(rtnl.fdb.add('vxlan0', { mac: mac(i), dst: '192.168.99.2' }));
    if (i % 20 === 0) dumps.push(rtnl.fdb.list('vxlan0').then((entries) => entries.length));
  }
  await Promise.all(writes);
  const counts = await Promise.all(dumps);
  t.equal(counts.length, 20, 'all 20 dumps answered');
  t.ok(counts.every((c, i) => i === 0 || c >= (counts[i - 1] ?? 0)), 'each dump saw at least what the one before it saw');
  t.equal(fdbCount(name, 'vxlan0'), 400, 'all writes landed');
  t.equal((await rtnl.fdb.list('vxlan0')).filter((e) => e.dst === '192.168.99.2').length, 400, 'a final dump sees them all');
});

t.test('close() fails requests still waiting with EBADF', async (t) => {
  const { name } = scratchRtnl(t, 'cl');
  const rtnl = openRtnl({ name }, { maxInFlight: 4 });
  t.teardown(() => rtnl.close());
  await rtnl.links.addVxlan('vxlan0', { vni: 42 });
  const pending = Array.from({ length: 50 }, (_, i) => rtnl.fdb.add('vxlan0', { mac: mac(i), dst: '192.168.99.2' }));
  rtnl.close();
  const results = await Promise.allSettled(pending);
  t.ok(results.every((r) => r.status === 'rejected'), 'every pending request failed');
  t.ok(results.every((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'EBADF'), 'with EBADF');
});
