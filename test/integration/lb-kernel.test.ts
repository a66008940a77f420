// The load balancers' kernel parts that run on any kernel (this one has no ip_vs): the nftables
// backend against real nft in a scratch namespace (applied once, read back, a table changed or
// deleted behind its back applied again after lbVerifyMs), every table text the IPVS backend sends
// accepted by this nft, and the VIPs on lo that the IPVS backend keeps for a task (only its /32s,
// never 127.0.0.1/8). IPVS itself runs in the VM lab (test/vm/run) and ipvs.test.ts.
import t from 'tap';
import { tunables } from '../../src/config/tunables.js';
import { ipvsSandboxTransaction, ipvsTaskTransaction } from '../../src/controllers/lb/ipvs.js';
import { syncLoopbackVips } from '../../src/controllers/lb/loopback.js';
import { NftablesLb, readNftTable } from '../../src/controllers/lb/nftables.js';
import { applyNft } from '../../src/kernel/nftables.js';
import { scratchNetns, sh } from '../lib/kernel.js';

const three = { vips: [{ vip: '10.0.1.2', backends: ['10.0.1.3', '10.0.1.4', '10.0.1.5'] }, { vip: '10.0.1.9', backends: [] }], redirects: [{ ifname: 'eth1', protocol: 'tcp' as const, published: 8080, target: 80 }] };

t.test('nftables backend: applied, read back, repaired', async (t) => {
  const { name } = scratchNetns(t, 'lbn');
  let now = 1_000_000;
  const lb = new NftablesLb({ now: () => now });
  sh('ip', ['-n', name, 'addr', 'add', '10.0.1.2/32', 'dev', 'lo']);
  t.match(await lb.syncTask('t', { name }, three), { changed: true, calls: 4 }, 'one nft run, one read-back, and lo read and cleared');
  t.notMatch(sh('ip', ['-n', name, '-4', 'addr', 'show', 'lo']), /10\.0\.1\.2/, 'a VIP an IPVS run left on lo is gone (it would make the VIP local, and refused)');
  const held = await readNftTable({ name }, 'shoal_vip');
  t.ok(held?.includes('10.0.1.4'), 'the table holds the backends');
  t.notMatch(held!, /"handle"/, 'read back without handles');
  t.match(await lb.syncTask('t', { name }, three), { changed: false, calls: 0 }, 'nothing changed: no process');
  now += tunables.lbVerifyMs;
  t.match(await lb.syncTask('t', { name }, three), { changed: false, calls: 1 }, 'after lbVerifyMs: read back, as applied');
  sh('ip', ['netns', 'exec', name, 'nft', 'flush', 'chain', 'ip', 'shoal_vip', 'vip_10_0_1_2']);
  now += tunables.lbVerifyMs;
  t.match(await lb.syncTask('t', { name }, three), { changed: true, calls: 3 }, 'a flushed chain is found and the table applied again');
  t.equal(await readNftTable({ name }, 'shoal_vip'), held, 'it reads back as it did');
  sh('ip', ['netns', 'exec', name, 'nft', 'delete', 'table', 'ip', 'shoal_vip']);
  t.equal(await readNftTable({ name }, 'shoal_vip'), undefined, 'a missing table reads back as none');
  now += tunables.lbVerifyMs;
  t.match(await lb.syncTask('t', { name }, three), { changed: true }, 'and is made again');
});

t.test('this nft accepts every table the IPVS backend sends', async (t) => {
  const { name } = scratchNetns(t, 'lbi');
  await applyNft({ name }, ipvsTaskTransaction(three.vips, three.redirects));
  const task = sh('ip', ['netns', 'exec', name, 'nft', 'list', 'table', 'ip', 'shoal_vip']);
  t.match(task, /meta mark set ip daddr map \{ 10\.0\.1\.2 : 0x0a000102 \}/, 'the VIP\'s mark');
  t.match(task, /oifname != "lo" meta mark != 0x00000000 masquerade/, 'the masquerade of what IPVS forwards');
  await applyNft({ name }, ipvsSandboxTransaction([{ protocol: 'tcp', port: 8080, backends: ['10.0.0.5'] }, { protocol: 'udp', port: 5300, backends: ['10.0.0.5'] }, { protocol: 'tcp', port: 9000, backends: [] }], '10.0.0.2'));
  const sandbox = sh('ip', ['netns', 'exec', name, 'nft', 'list', 'table', 'ip', 'shoal_ingress']);
  t.match(sandbox, /chain lb_mark/, 'the mark chain (not named `mark`, a keyword in nft 1.1)');
  t.match(sandbox, /snat to 10\.0\.0\.2/);
});

t.test('the VIPs on lo: exactly the served ones, lo\'s own address untouched', async (t) => {
  const { name } = scratchNetns(t, 'lbl');
  const lo = () => JSON.parse(sh('ip', ['-n', name, '-j', '-4', 'addr', 'show', 'lo'])).flatMap((l: { addr_info: { local: string; prefixlen: number }[] }) => l.addr_info.map((a) => `${a.local}/${a.prefixlen}`)).sort();
  t.equal(await syncLoopbackVips({ name }, ['10.0.1.2', '10.0.1.6']), 3, 'one dump, two adds');
  t.same(lo(), ['10.0.1.2/32', '10.0.1.6/32', '127.0.0.1/8']);
  t.equal(await syncLoopbackVips({ name }, ['10.0.1.2', '10.0.1.6']), 1, 'as held: one dump, nothing sent');
  t.equal(await syncLoopbackVips({ name }, ['10.0.1.6']), 2, 'one delete');
  t.same(lo(), ['10.0.1.6/32', '127.0.0.1/8']);
  await syncLoopbackVips({ name }, []);
  t.same(lo(), ['127.0.0.1/8'], 'none served: only lo\'s own address');
});
