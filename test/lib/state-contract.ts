// The state store's contract, run the same way against every implementation (memory, gossip, etcd):
// reads, writes checked before they change anything, watches, Docker's Version.Index, and batches
// whose reads show their own pending writes and whose commit applies them.
import type { Test } from 'tap';
import { StateError, type StateStore } from '../../src/store/state.js';

export interface Pet { name: string; legs: number }
export function parsePet(v: unknown): Pet {
  const p = v as Partial<Pet>;
  if (typeof p?.name !== 'string' || typeof p.legs !== 'number') throw new Error('a pet needs a name and legs');
  return p as Pet;
}

/** Adds the contract's tests for one kind of store to t; make() gives a fresh, empty store. */
export function stateStoreContract(t: Test, kind: string, make: () => Promise<StateStore> | StateStore): void {
  t.test(`${kind}: writes, reads and watches`, async (t) => {
    const pets = (await make()).table('pets', parsePet);
    const seen: string[] = [];
    const stop = pets.watch((c) => seen.push(`${c.key}=${c.value?.name ?? '-'}`));
    await pets.put('b', { name: 'bo', legs: 4 });
    await pets.put('a', { name: 'al', legs: 2 });
    t.same(pets.list().map((i) => i.key), ['a', 'b'], 'listed by key');
    t.equal(pets.get('a')?.value.name, 'al', 'read back');
    const before = pets.get('b')!.index;
    await pets.put('b', { name: 'bo', legs: 3 });
    t.ok(pets.get('b')!.index > before, 'the index grows with every write of the key');
    await t.rejects(pets.put('c', { name: 'cy' } as Pet), StateError, 'an invalid value is refused');
    t.equal(pets.get('c'), undefined, '... and nothing was written');
    await pets.delete('a');
    await pets.delete('a');
    t.equal(pets.get('a'), undefined, 'deleted (twice is not an error)');
    stop();
    await pets.put('d', { name: 'di', legs: 0 });
    t.same(seen, ['b=bo', 'a=al', 'b=bo', 'a=-'], 'every change was seen until the watch stopped');
  });

  t.test(`${kind}: a batch shows its own writes and commits them in order`, async (t) => {
    const store = await make();
    const pets = store.table('pets', parsePet);
    await pets.put('a', { name: 'al', legs: 2 });
    await pets.put('b', { name: 'bo', legs: 4 });
    const batch = store.batch();
    const view = batch.table(pets);
    view.put('c', { name: 'cy', legs: 8 });
    view.delete('a');
    view.put('b', { name: 'bo', legs: 1 });
    t.same(view.list().map((i) => `${i.key}:${i.value.legs}`), ['b:1', 'c:8'], 'the batch reads its pending writes');
    t.equal(view.get('a'), undefined, 'a pending delete hides the key');
    t.same(pets.list().map((i) => i.key), ['a', 'b'], 'the store is unchanged before commit');
    t.equal(batch.size, 3, 'three writes wait');
    view.delete('zz');
    t.equal(batch.size, 3, 'deleting a key that holds nothing adds no write');
    await batch.commit();
    t.same(pets.list().map((i) => `${i.key}:${i.value.legs}`), ['b:1', 'c:8'], 'committed');
    t.equal(batch.size, 0, 'the batch is empty after commit');
  });

  t.test(`${kind}: a refused write in a batch rejects the commit`, async (t) => {
    const store = await make();
    const pets = store.table('pets', parsePet);
    const batch = store.batch();
    batch.table(pets).put('x', { legs: 1 } as Pet);
    await t.rejects(batch.commit(), StateError, 'commit names the refused write');
    t.equal(pets.get('x'), undefined, 'nothing written');
  });
}
