// The replicated store: last-writer-wins merges that converge in any order, tombstones that stop
// resurrection and are reaped, validation before change, watches, and persistence across restarts.
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Entry } from '../../src/store/entry.js';
import { HlcClock } from '../../src/store/hlc.js';
import { FilePersistence } from '../../src/store/persistence.js';
import { ReplicatedStore, type StoreEvent } from '../../src/store/store.js';

function parseLabel(v: unknown): { name: string } {
  if (typeof v !== 'object' || v === null || typeof (v as { name?: unknown }).name !== 'string') throw new Error('label needs a string name');
  return { name: (v as { name: string }).name };
}

function node(name: string, clock: () => number, extra: Partial<ConstructorParameters<typeof ReplicatedStore>[0]> = {}) {
  const s = new ReplicatedStore({ node: name, clock: new HlcClock(name, clock), now: clock, ...extra });
  return { store: s, labels: s.defineTable('labels', parseLabel) };
}

function view(s: ReplicatedStore) {
  return s.list('labels').map((e) => [e.key, e.value]);
}

t.test('concurrent writes converge to the same winner whatever the merge order', async (t) => {
  let now = 1000;
  const a = node('a', () => now);
  const b = node('b', () => now);
  a.labels.put('x', { name: 'from-a' });
  b.labels.put('x', { name: 'from-b' }); // same wall, same counter: node name decides
  now = 1001;
  a.labels.put('y', { name: 'a-y' });
  const fromA = a.store.snapshot();
  const fromB = b.store.snapshot();
  a.store.merge(fromB);
  b.store.merge(fromA);
  t.same(view(a.store), view(b.store), 'identical after exchanging state');
  t.same(a.labels.get('x')?.value, { name: 'from-b' }, "b > a breaks the tie");
  const again = a.store.merge(fromB);
  t.equal(again.applied.length, 0, 'merging the same state twice changes nothing');
  t.equal(again.stale, fromB.length);
});

t.test('a later write wins over an earlier one from another node', async (t) => {
  let now = 1000;
  const a = node('a', () => now);
  const b = node('b', () => now);
  b.labels.put('k', { name: 'old' });
  now = 2000;
  a.labels.put('k', { name: 'new' });
  b.store.merge(a.store.snapshot());
  a.store.merge(b.store.snapshot());
  t.same(b.labels.get('k')?.value, { name: 'new' });
  t.same(a.labels.get('k')?.value, { name: 'new' });
});

t.test('tombstones stop a late, older write from resurrecting a key, then are reaped', async (t) => {
  let now = 1000;
  const a = node('a', () => now, { tombstoneTtlMs: 10_000 });
  const b = node('b', () => now);
  a.labels.put('k', { name: 'v' });
  const oldWrite = a.store.snapshot();
  now = 2000;
  a.labels.delete('k');
  a.store.merge(oldWrite);
  t.equal(a.labels.get('k'), undefined, 'the stale write does not bring it back');
  b.store.merge(a.store.snapshot());
  t.equal(b.labels.get('k'), undefined, 'the tombstone replicates');
  t.equal(a.store.snapshot().length, 1, 'the tombstone is kept');
  now = 2000 + 10_001;
  t.equal(a.store.reap(), 1);
  t.equal(a.store.snapshot().length, 0, 'and reaped after the TTL');
  t.equal(a.labels.delete('k'), undefined, 'deleting a missing key is a no-op');
});

t.test('invalid values are refused before anything changes, locally and from the network', async (t) => {
  const a = node('a', () => 1000);
  const events: StoreEvent[] = [];
  a.store.watch((e) => events.push(e));
  t.throws(() => a.labels.put('k', { bad: true } as unknown as { name: string }), { message: /label needs a string name/ });
  t.throws(() => a.store.put('nope', 'k', 1), { message: /table 'nope' is not defined/ });
  const r = a.store.merge([
    { table: 'labels', key: 'k', deleted: false, value: { bad: 1 }, version: { wall: 1, counter: 0, node: 'b' } },
    { table: 'labels', key: '', deleted: false, value: { name: 'x' }, version: { wall: 1, counter: 0, node: 'b' } },
    { table: 'labels', key: 'k', deleted: false, value: { name: 'x' }, version: { wall: -1, counter: 0, node: 'b' } },
    'garbage',
    null,
    { table: 'labels', key: 'k', deleted: false, value: { name: 'future' }, version: { wall: 10 ** 12, counter: 0, node: 'b' } },
  ]);
  t.equal(r.rejected, 6, 'every malformed entry is dropped and counted');
  t.equal(a.store.stats.rejected, 6);
  t.same(events, [], 'nothing changed, nothing was announced');
  t.equal(a.store.snapshot().length, 0);
});

t.test('watchers see local, remote changes per table; local writes go to the replicator', async (t) => {
  const a = node('a', () => 1000);
  const b = node('b', () => 1000);
  const other = a.store.defineTable('other', (v) => v);
  const seen: string[] = [];
  const stop = a.labels.watch((e) => seen.push(`${e.origin}:${e.entry.key}`));
  const replicated: Entry[] = [];
  a.store.onLocalWrite((e) => replicated.push(e));
  a.labels.put('one', { name: '1' });
  other.put('skip', 1);
  b.labels.put('two', { name: '2' });
  a.store.merge(b.store.snapshot());
  stop();
  a.labels.put('three', { name: '3' });
  t.same(seen, ['local:one', 'remote:two']);
  t.same(replicated.map((e) => e.key), ['one', 'skip', 'three'], 'only local writes are handed to the replicator');
});

t.test('persistence: a restarted store has what it had, also after a torn write', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let now = 1000;
  const first = node('a', () => now, { persistence: new FilePersistence(dir), compactEvery: 3 });
  first.store.restore();
  for (let i = 0; i < 5; i++) first.labels.put(`k${i}`, { name: `v${i}` }); // passes a compaction
  now = 2000;
  first.labels.delete('k1');
  first.store.merge([{ table: 'labels', key: 'remote', deleted: false, value: { name: 'r' }, version: { wall: 1500, counter: 0, node: 'b' } }]);
  const before = view(first.store);
  // no close(): as if killed; then a crash in the middle of the next append
  appendFileSync(join(dir, 'store.wal.jsonl'), '{"table":"labels","key":"torn","ver');

  const second = node('a', () => now, { persistence: new FilePersistence(dir) });
  second.store.restore();
  t.same(view(second.store), before, 'same live entries');
  t.equal(second.labels.get('k1'), undefined, 'the deletion survived');
  t.equal(second.store.stats.restoreSkipped, 1, 'the torn line was skipped and counted');
  const v = second.labels.put('k0', { name: 'after-restart' }).version;
  t.ok(v.wall >= 2000, 'the clock resumes past every stored version');
  t.notOk(readFileSync(join(dir, 'store.wal.jsonl'), 'utf8').includes('torn'), 'restore compacted the log');

  writeFileSync(join(dir, 'store.snapshot.json'), '{not json');
  t.throws(() => node('a', () => now, { persistence: new FilePersistence(dir) }).store.restore(), { message: /store snapshot .* is damaged .* move it aside/ }, 'a damaged snapshot is an error, not silently empty');
});
