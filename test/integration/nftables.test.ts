// nft transactions against the kernel in scratch namespaces: what is applied reads back, a failing
// transaction changes nothing, changes to a large map send only the change, and one namespace's
// tables never appear in another.
import t from 'tap';
import { applyNft, listTables, readTable, Transaction } from '../../src/kernel/nftables.js';
import { scratchNetns, sh } from '../lib/kernel.js';

const TABLE = 'shoaltest';

function meshTable(): Transaction {
  return new Transaction('ip', TABLE)
    .addTable()
    .addChain('prerouting', { type: 'nat', hook: 'prerouting', priority: -100 })
    .addChain('output', { type: 'nat', hook: 'output', priority: -100 })
    .addChain('postrouting', { type: 'nat', hook: 'postrouting', priority: 100 })
    .addChain('svc-web')
    .addMap('vips', { type: 'ipv4_addr . inet_service', valueType: 'verdict' })
    .addElements('vips', ['10.0.1.2 . 80 : goto svc-web'])
    .addRule('output', 'ip daddr . tcp dport vmap @vips')
    .addRule('svc-web', 'dnat to numgen inc mod 3 map { 0 : 10.0.1.11, 1 : 10.0.1.12, 2 : 10.0.1.13 }')
    .addRule('postrouting', 'oifname "eth0" ct status dnat masquerade');
}

t.test('a table with nat chains, a verdict map and a numgen DNAT reads back as applied', async (t) => {
  const { name } = scratchNetns(t, 'nf');
  await applyNft({ name }, meshTable());
  const tbl = await readTable({ name }, 'ip', TABLE);
  t.same(tbl.chains.map((c) => [c.name, c.type, c.hook, c.prio]).sort(), [
    ['output', 'nat', 'output', -100],
    ['postrouting', 'nat', 'postrouting', 100],
    ['prerouting', 'nat', 'prerouting', -100],
    ['svc-web', undefined, undefined, undefined],
  ]);
  t.equal(tbl.rules.length, 3);
  t.equal(tbl.maps.length, 1);
  t.equal(tbl.maps[0]!.elem?.length, 1);
  const text = sh('ip', ['netns', 'exec', name, 'nft', 'list', 'chain', 'ip', TABLE, 'svc-web']);
  t.match(text, /dnat to numgen inc mod 3 map \{ 0 : 10\.0\.1\.11, 1 : 10\.0\.1\.12, 2 : 10\.0\.1\.13 \}/, 'nft(8) shows the rule');
  await applyNft({ name }, meshTable()); // add is idempotent for table, chains, map, element; rules append
  t.equal((await readTable({ name }, 'ip', TABLE)).chains.length, 4, 'applying again does not duplicate chains');
});

t.test('a transaction with one bad rule changes nothing and names the bad line', async (t) => {
  const { name } = scratchNetns(t, 'nf');
  await applyNft({ name }, meshTable());
  const before = sh('ip', ['netns', 'exec', name, 'nft', 'list', 'ruleset']);
  const tx = new Transaction('ip', TABLE)
    .addChain('extra')
    .addRule('extra', 'accept')
    .addRule('extra', 'bogus stuff here')
    .flushChain('prerouting');
  await t.rejects(applyNft({ name }, tx), { code: 'EINVAL', message: /in line 3: add rule ip shoaltest extra bogus stuff here/ });
  t.equal(sh('ip', ['netns', 'exec', name, 'nft', 'list', 'ruleset']), before, 'the ruleset is byte-for-byte unchanged');
  await t.rejects(applyNft({ name }, new Transaction('ip', 'absent').deleteTable()), { code: 'ENOENT' });
  await t.rejects(readTable({ name }, 'ip', 'absent'), { code: 'ENOENT' });
});

t.test('changing one element of a 1000-element map sends one element', async (t) => {
  const { name } = scratchNetns(t, 'nf');
  const elements = Array.from({ length: 1000 }, (_, i) => `10.${Math.floor(i / 250)}.${i % 250}.1 : 10.99.0.${(i % 250) + 1}`);
  await applyNft({ name }, new Transaction('ip', TABLE).addTable().addMap('m', { type: 'ipv4_addr', valueType: 'ipv4_addr' }).addElements('m', elements));
  const change = new Transaction('ip', TABLE).deleteElements('m', [elements[500]!]).addElements('m', ['10.200.0.1 : 10.99.0.7']);
  t.equal(change.render(), 'delete element ip shoaltest m { 10.2.0.1 : 10.99.0.1 }\nadd element ip shoaltest m { 10.200.0.1 : 10.99.0.7 }\n', 'the script holds only the change');
  await applyNft({ name }, change);
  const map = (await readTable({ name }, 'ip', TABLE)).maps[0]!;
  t.equal(map.elem?.length, 1000, 'one out, one in');
  const text = sh('ip', ['netns', 'exec', name, 'nft', 'list', 'map', 'ip', TABLE, 'm']);
  t.match(text, /10\.200\.0\.1 : 10\.99\.0\.7/);
  t.notMatch(text, /10\.2\.0\.1 : /);
});

t.test('rules are deleted by handle', async (t) => {
  const { name } = scratchNetns(t, 'nf');
  await applyNft({ name }, new Transaction('inet', TABLE).addTable().addChain('c').addRule('c', 'tcp dport 80 accept').addRule('c', 'tcp dport 81 accept'));
  const rules = (await readTable({ name }, 'inet', TABLE)).rules;
  t.equal(rules.length, 2);
  await applyNft({ name }, new Transaction('inet', TABLE).deleteRule('c', rules[0]!.handle));
  const left = (await readTable({ name }, 'inet', TABLE)).rules;
  t.same(left.map((r) => r.handle), [rules[1]!.handle]);
});

t.test("a table applied in one namespace is not in another, nor in the runner's", async (t) => {
  const a = scratchNetns(t, 'nf');
  const b = scratchNetns(t, 'nf');
  await applyNft({ name: a.name }, new Transaction('ip', TABLE).addTable());
  t.same((await listTables({ name: a.name })).map((x) => x.name), [TABLE]);
  t.same(await listTables({ name: b.name }), []);
  t.notOk((await listTables('self')).some((x) => x.name === TABLE));
});
