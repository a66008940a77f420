// The transmit-limited broadcast queue: budget per packet, ordering, retransmit limit, replacement.
import t from 'tap';
import { BroadcastQueue } from '../../src/cluster/broadcast-queue.js';

const msg = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

t.test('each broadcast goes out retransmitLimit times, then leaves the queue', async (t) => {
  const q = new BroadcastQueue(4, () => 3); // limit 4 * ceil(log10(4)) = 4
  const finished: string[] = [];
  q.queue({ message: msg(10), finished: (r) => finished.push(r) });
  for (let i = 0; i < 4; i++) t.equal(q.take(2, 1400).length, 1, `transmit ${i + 1}`);
  t.equal(q.length, 0);
  t.same(finished, ['sent']);
  t.same(q.take(2, 1400), [], 'nothing left');
});

t.test('a packet takes what fits, fewest transmits first, then larger, then newer', async (t) => {
  const q = new BroadcastQueue(4, () => 3);
  q.queue({ message: msg(100, 1) });
  q.queue({ message: msg(300, 2) });
  q.queue({ message: msg(100, 3) });
  const first = q.take(3, 410); // room for 300+3 and one 100+3
  t.same(first.map((m) => [m.length, m[0]]), [[300, 2], [100, 3]], 'larger first, then the newer of equal size');
  const second = q.take(3, 410);
  t.same(second.map((m) => [m.length, m[0]]), [[100, 1], [300, 2]], 'the one not yet sent goes first');
});

t.test('an update about the same subject replaces the queued one', async (t) => {
  const q = new BroadcastQueue(4, () => 3);
  const finished: string[] = [];
  q.queue({ subject: 'node-a', message: msg(5, 1), finished: (r) => finished.push(`old:${r}`) });
  q.queue({ subject: 'node-b', message: msg(5, 2) });
  q.queue({ subject: 'node-a', message: msg(5, 3) });
  t.equal(q.length, 2);
  t.same(finished, ['old:replaced']);
  t.same(q.take(0, 100).map((m) => m[0]).sort(), [2, 3]);
});

t.test('the retransmit limit grows with the cluster', async (t) => {
  let n = 3;
  const q = new BroadcastQueue(4, () => n);
  q.queue({ message: msg(1) });
  n = 50; // limit 4 * ceil(log10(51)) = 8
  let sends = 0;
  while (q.take(0, 100).length > 0) sends++;
  t.equal(sends, 8);
});
