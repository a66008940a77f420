// nft transactions as text: what each change renders to, and input refused before anything is sent.
import t from 'tap';
import { nftError, Transaction } from '../../src/kernel/nftables.js';

t.test('a transaction renders one nft command per change, in order', async (t) => {
  const tx = new Transaction('ip', 'shoal')
    .addTable()
    .addChain('prerouting', { type: 'nat', hook: 'prerouting', priority: -100 })
    .addChain('filter-in', { type: 'filter', hook: 'input', priority: 0, policy: 'accept' })
    .addChain('svc')
    .addMap('backends', { type: 'ipv4_addr', valueType: 'verdict' })
    .addSet('seen', { type: 'ipv4_addr . inet_service', flags: ['interval'] })
    .addRule('prerouting', 'ip daddr vmap @backends')
    .insertRule('prerouting', 'ct state established accept')
    .addElements('backends', ['10.0.0.2 : jump svc'])
    .deleteElements('backends', ['10.0.0.3 : jump svc'])
    .deleteRule('prerouting', 7)
    .flushChain('svc');
  t.equal(tx.size, 12);
  t.equal(tx.render(), [
    'add table ip shoal',
    'add chain ip shoal prerouting { type nat hook prerouting priority -100 ; }',
    'add chain ip shoal filter-in { type filter hook input priority 0 ; policy accept ; }',
    'add chain ip shoal svc',
    'add map ip shoal backends { type ipv4_addr : verdict ; }',
    'add set ip shoal seen { type ipv4_addr . inet_service ; flags interval ; }',
    'add rule ip shoal prerouting ip daddr vmap @backends',
    'insert rule ip shoal prerouting ct state established accept',
    'add element ip shoal backends { 10.0.0.2 : jump svc }',
    'delete element ip shoal backends { 10.0.0.3 : jump svc }',
    'delete rule ip shoal prerouting handle 7',
    'flush chain ip shoal svc',
    '',
  ].join('\n'));
  t.equal(new Transaction('inet', 'x').addElements('s', []).size, 0, 'no elements, no command');
});

t.test('bad names and text are refused before anything is sent', async (t) => {
  t.throws(() => new Transaction('ip', 'bad name'), { code: 'EINVAL', message: /'bad name' is not a valid nft identifier/ });
  t.throws(() => new Transaction('ipx' as 'ip', 't'), { code: 'EINVAL', message: /'ipx' is not one of/ });
  const tx = new Transaction('ip', 't');
  t.throws(() => tx.addChain('c;drop'), { code: 'EINVAL' });
  t.throws(() => tx.addRule('c', 'accept\nflush ruleset'), { code: 'EINVAL', message: /one non-empty line/ });
  t.throws(() => tx.addRule('c', '  '), { code: 'EINVAL' });
  t.throws(() => tx.deleteRule('c', 0), { code: 'EINVAL', message: /positive integer/ });
  t.throws(() => tx.addChain('c', { type: 'nat', hook: 'output', priority: 1.5 }), { code: 'EINVAL' });
  t.equal(tx.size, 0, 'nothing was collected');
});

t.test("nft's errors become typed errors naming the failing line", async (t) => {
  const script = 'add table ip t\nadd rule ip t c bogus stuff\n';
  const e = nftError('/dev/stdin:2:17-21: Error: No symbol type information\nadd rule ip t c bogus stuff\n                ^^^^^\n', script, 'apply');
  t.equal(e.code, 'EINVAL');
  t.match(e.message, /apply: No symbol type information in line 2: add rule ip t c bogus stuff/);
  const missing = nftError('/dev/stdin:1:17-20: Error: Could not process rule: No such file or directory\n', 'delete table ip nope\n', 'apply');
  t.equal(missing.code, 'ENOENT');
  t.equal(nftError('/dev/stdin:1:1-2: Error: Could not process rule: File exists\n', 'x\n', 'op').code, 'EEXIST');
});
