// The nftables load-balancer backend against the nft fake (all-or-nothing transactions, ENOENT
// for a missing table or chain): today's tables behind the interface, applied once and not again
// while nothing changes, re-applied when the namespace no longer holds what was applied (checked
// by reading it back at most every lbVerifyMs), flows to a backend that left forgotten, and a
// refused transaction retried at the next sync.
import t from 'tap';
import { tunables } from '../../src/config/tunables.js';
import { NftablesLb } from '../../src/controllers/lb/nftables.js';
import type { NetnsRef } from '../../src/kernel/netns.js';
import { FakeNft } from '../lib/nft-fake.js';

const TASK: NetnsRef = { pid: 77 };
const SB: NetnsRef = { name: 'si-abcdef12' };

function rig() {
  let now = 1_000_000;
  const nft = new FakeNft();
  const forgotten: string[] = [];
  const cleared: string[] = [];
  const lb = new NftablesLb({ apply: nft.apply, read: nft.read, forgetFlows: async (_ns, ip) => { forgotten.push(ip); return 1; }, now: () => now, loopback: async (ns, vips) => { cleared.push(`${JSON.stringify(ns)} ${vips.length}`); return 1; } });
  return { lb, nft, forgotten, cleared, tick: (ms: number) => { now += ms; } };
}

const three = { vips: [{ vip: '10.0.1.2', backends: ['10.0.1.3', '10.0.1.4', '10.0.1.5'] }], redirects: [] };

t.test('a task: applied once, nothing while nothing changes, a backend leaving forgets its flows', async (t) => {
  const r = rig();
  const first = await r.lb.syncTask('t1', TASK, three);
  t.match(first, { changed: true, calls: 3 }, 'one nft run and one read-back, and lo cleared once');
  t.same(r.cleared, ['{"pid":77} 0'], 'no VIP left on lo by an earlier IPVS run (it would make the VIP local, and refused)');
  t.same(r.nft.rulesOf(TASK, 'shoal_vip', 'vip_10_0_1_2'), ['dnat to numgen inc mod 3 map { 0 : 10.0.1.3, 1 : 10.0.1.4, 2 : 10.0.1.5 }'], 'DNAT round robin, as decision 0014');
  t.same(await r.lb.syncTask('t1', TASK, three), { changed: false, removed: [], calls: 0 }, 'unchanged: no process at all');
  t.equal(r.cleared.length, 1, 'lo is cleared once per task');
  const two = await r.lb.syncTask('t1', TASK, { ...three, vips: [{ vip: '10.0.1.2', backends: ['10.0.1.3', '10.0.1.5'] }] });
  t.same(two.removed, ['10.0.1.4']);
  t.same(r.forgotten, ['10.0.1.4'], 'the task\'s flows to the backend that left are forgotten');
  t.same(r.nft.rulesOf(TASK, 'shoal_vip', 'vip_10_0_1_2'), ['dnat to numgen inc mod 2 map { 0 : 10.0.1.3, 1 : 10.0.1.5 }']);
});

t.test('read back: a table changed behind its back is applied again', async (t) => {
  const r = rig();
  await r.lb.syncTask('t1', TASK, three);
  r.nft.tamper(TASK, 'shoal_vip', 'vip_10_0_1_2');
  t.match(await r.lb.syncTask('t1', TASK, three), { changed: false, calls: 0 }, 'within lbVerifyMs the table is not read');
  r.tick(tunables.lbVerifyMs);
  const fixed = await r.lb.syncTask('t1', TASK, three);
  t.match(fixed, { changed: true, calls: 3 }, 'then it is read, found changed, applied and read again');
  t.same(r.nft.rulesOf(TASK, 'shoal_vip', 'vip_10_0_1_2')!.length, 1, 'the flushed chain holds its rule again');
  r.tick(tunables.lbVerifyMs);
  t.match(await r.lb.syncTask('t1', TASK, three), { changed: false, calls: 1 }, 'as applied: one read, nothing sent');
  r.nft.tamper(TASK, 'shoal_vip');
  r.tick(tunables.lbVerifyMs);
  t.match(await r.lb.syncTask('t1', TASK, three), { changed: true }, 'a deleted table is made again');
});

t.test('a refused transaction changes nothing and is tried again', async (t) => {
  const r = rig();
  r.nft.failNext('ENOBUFS');
  await t.rejects(r.lb.syncTask('t1', TASK, three), { code: 'ENOBUFS' });
  t.equal(r.nft.rulesOf(TASK, 'shoal_vip', 'vips'), undefined, 'all or nothing: no table');
  t.match(await r.lb.syncTask('t1', TASK, three), { changed: true }, 'the next sync applies it');
  t.ok(r.nft.rulesOf(TASK, 'shoal_vip', 'vips'));
});

t.test('the sandbox, and forgetting a namespace', async (t) => {
  const r = rig();
  const ports = { ports: [{ protocol: 'tcp' as const, port: 8080, backends: ['10.0.0.5', '10.0.0.6'] }], ingressIp: '10.0.0.2' };
  await r.lb.syncSandbox('sb', SB, ports);
  t.same(r.nft.rulesOf(SB, 'shoal_ingress', 'postrouting'), ['oifname "eth0" ct status dnat snat to 10.0.0.2']);
  t.same(r.nft.rulesOf(SB, 'shoal_ingress', 'to_tcp_8080'), ['dnat to numgen inc mod 2 map { 0 : 10.0.0.5, 1 : 10.0.0.6 }']);
  r.lb.forget('sb');
  t.match(await r.lb.syncSandbox('sb', SB, ports), { changed: true }, 'a forgotten namespace (made anew) is applied again');
  t.equal(r.nft.applied.filter((a) => a.ns === 'si-abcdef12').length, 2);
});
