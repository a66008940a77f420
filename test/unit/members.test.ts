// The membership state machine, rule by rule (memberlist.md §3.1): joins, incarnation precedence,
// suspicion and its timeout, refutation, graceful leave, push-pull merge, reaping.
import t from 'tap';
import { Members, type Update, type Vsn } from '../../src/cluster/members.js';

const VSN: Vsn = [1, 5, 2, 2, 5, 4];
const meta = new Uint8Array();

function setup(probeIntervalMs = 10) {
  const sent: Update[] = [];
  let refutes = 0;
  const m = new Members({
    self: { name: 'me', addr: '127.0.0.1', port: 7946, meta, vsn: VSN },
    broadcast: (u) => sent.push(u),
    suspicionMult: 4,
    suspicionMaxTimeoutMult: 6,
    probeIntervalMs,
    onRefute: () => refutes++,
  });
  const events: string[] = [];
  m.on('join', (x) => events.push(`join:${x.name}`));
  m.on('leave', (x) => events.push(`leave:${x.name}:${x.state}`));
  m.on('update', (x) => events.push(`update:${x.name}`));
  return { m, sent, events, refutes: () => refutes };
}

const alive = (name: string, incarnation: number, extra: Partial<{ addr: string; port: number; meta: Uint8Array; vsn: Vsn }> = {}) =>
  ({ name, incarnation, addr: '127.0.0.2', port: 7946, meta, vsn: VSN, ...extra });

t.test('a new member joins; only a strictly higher incarnation updates it', async (t) => {
  const { m, sent, events } = setup();
  m.handleAlive(alive('b', 1));
  t.same(events, ['join:b']);
  t.equal(sent.length, 1, 're-broadcast');
  m.handleAlive(alive('b', 1, { meta: Uint8Array.of(1) }));
  t.equal(sent.length, 1, 'equal incarnation ignored');
  m.handleAlive(alive('b', 2, { meta: Uint8Array.of(1) }));
  t.same(events, ['join:b', 'update:b'], 'meta change at a higher incarnation is an update');
  m.handleAlive(alive('b', 3, { addr: '127.0.0.9' }));
  t.equal(m.get('b')!.addr, '127.0.0.2', 'another address for a live name is a conflict, ignored');
  m.handleAlive({ ...alive('c', 1), vsn: [0, 5, 2, 2, 5, 4] });
  t.equal(m.get('c'), undefined, 'a bad version triple is ignored');
});

t.test('suspicion ends in death after the timeout unless refuted; equal alive does not clear it', async (t) => {
  const { m, events } = setup();
  m.handleAlive(alive('b', 1));
  m.suspect('b');
  t.equal(m.get('b')!.state, 'suspect');
  m.handleAlive(alive('b', 1));
  t.equal(m.get('b')!.state, 'suspect', 'an alive with the same incarnation does not refute');
  await new Promise((r) => setTimeout(r, 80)); // n=2: min = 4 x 10 ms
  t.equal(m.get('b')!.state, 'dead');
  t.same(events, ['join:b', 'leave:b:dead']);

  m.handleAlive(alive('c', 1));
  m.suspect('c');
  m.handleAlive(alive('c', 2));
  t.equal(m.get('c')!.state, 'alive', 'a higher incarnation refutes');
  await new Promise((r) => setTimeout(r, 80));
  t.equal(m.get('c')!.state, 'alive', 'and the timer was cancelled');
});

t.test('accusations about ourselves are refuted with a higher incarnation', async (t) => {
  const { m, sent, refutes } = setup();
  const start = m.self.incarnation;
  m.handleSuspect({ name: 'me', incarnation: start, from: 'b' });
  t.match(sent.at(-1), { kind: 'alive', name: 'me' });
  t.ok(m.self.incarnation > start);
  m.handleDead({ name: 'me', incarnation: 10, from: 'b' });
  t.equal(m.self.incarnation, 11, 'jumps past the accused incarnation');
  t.equal(m.self.state, 'alive');
  m.handleAlive(alive('me', 11, { meta: Uint8Array.of(9) }));
  t.equal(m.self.incarnation, 12, 'an alive about us with other meta is refuted too');
  m.handleAlive(alive('me', 5));
  t.equal(m.self.incarnation, 12, 'an older alive about us is ignored');
  t.equal(refutes(), 3, 'each refutation counts against our health');
});

t.test('dead from the node itself is a graceful leave; leaving stops refutation', async (t) => {
  const { m, sent, events } = setup();
  m.handleAlive(alive('b', 1));
  m.handleDead({ name: 'b', incarnation: 1, from: 'b' });
  t.equal(m.get('b')!.state, 'left');
  t.same(events, ['join:b', 'leave:b:left']);
  m.leave();
  t.match(sent.at(-1), { kind: 'dead', name: 'me', from: 'me' });
  const inc = m.self.incarnation;
  m.handleDead({ name: 'me', incarnation: inc, from: 'b' });
  t.equal(m.self.incarnation, inc, 'no refutation while leaving');
});

t.test('push-pull merge: alive joins, left leaves, dead only becomes a suspicion', async (t) => {
  const { m } = setup(1000);
  t.teardown(() => m.stop());
  m.handleAlive(alive('d', 1));
  m.mergeRemoteState([
    { ...alive('b', 1), state: 'alive' },
    { ...alive('c', 1), state: 'alive' },
    { ...alive('c', 1), state: 'left' },
    { ...alive('d', 1), state: 'dead' },
  ]);
  t.equal(m.get('b')!.state, 'alive');
  t.equal(m.get('c')!.state, 'left');
  t.equal(m.get('d')!.state, 'suspect', 'a remote dead is only a local suspicion');
  const mine = m.localState().find((n) => n.name === 'me')!;
  t.match(mine, { state: 'alive', addr: '127.0.0.1', port: 7946 });
});

t.test('confirmations from other members shorten a suspicion (Lifeguard)', async (t) => {
  const { m } = setup(10);
  for (const n of ['b', 'c', 'd', 'e']) m.handleAlive(alive(n, 1));
  // n=5: k=2, min 40 ms, max 240 ms
  m.suspect('b');
  await new Promise((r) => setTimeout(r, 60));
  t.equal(m.get('b')!.state, 'suspect', 'without confirmations it lasts longer than the minimum');
  m.handleSuspect({ name: 'b', incarnation: 1, from: 'c' });
  m.handleSuspect({ name: 'b', incarnation: 1, from: 'd' });
  await new Promise((r) => setTimeout(r, 10));
  t.equal(m.get('b')!.state, 'dead', 'two confirmations bring it down to the minimum, already passed');
});

t.test('dead and left members are reaped after a while; we never are', async (t) => {
  let now = 0;
  const m = new Members({ self: { name: 'me', addr: '127.0.0.1', port: 1, meta, vsn: VSN }, broadcast: () => {}, suspicionMult: 4, suspicionMaxTimeoutMult: 6, probeIntervalMs: 1000, now: () => now });
  m.handleAlive(alive('b', 1));
  m.handleDead({ name: 'b', incarnation: 1, from: 'me' });
  now = 1000;
  t.same(m.reap(5000), []);
  now = 6000;
  t.same(m.reap(5000).map((x) => x.name), ['b']);
  t.same(m.list().map((x) => x.name), ['me']);
});
