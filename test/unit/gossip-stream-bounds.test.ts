// Incoming gossip TCP streams are bounded before they can be authenticated: at most so many open at
// once, at most so many bytes held by all of them together, and a wrong label refused on the first
// bytes. An honest push-pull still gets through once a flood is gone. Real sockets on loopback.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import t from 'tap';
import { Memberlist } from '../../src/cluster/memberlist.js';
import { MsgType } from '../../src/cluster/wire/messages.js';
import { Keyring } from '../../src/cluster/wire/security.js';
import { freePort } from '../lib/ports.js';
import { until } from '../lib/wait.js';

const log = pino({ level: 'silent' });


t.test('stream limits', async (t) => {
  const key = randomBytes(32).toString('base64');
  const port = await freePort();
  const m = new Memberlist({ name: 'a', addr: '127.0.0.1', port, keyring: Keyring.fromBase64([key]), log, config: { maxIncomingStreams: 2, incomingStreamBudgetBytes: 1024 * 1024, pushPullIntervalMs: 3_600_000 } });
  await m.start();
  const socks: net.Socket[] = [];
  t.teardown(async () => { for (const s of socks) s.destroy(); await m.shutdown(); });
  const open = () => new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s)).on('error', reject);
    s.on('error', () => undefined);
    s.resume(); // read what the server answers, so its end closes the connection
    socks.push(s);
  });
  const closed = (s: net.Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));

  // An encrypted frame header declaring 900 KiB, never completed: it may be held.
  const header = Buffer.alloc(5);
  header[0] = MsgType.encrypt;
  header.writeUInt32BE(900 * 1024, 1);
  const a = await open();
  a.write(Buffer.concat([header, Buffer.alloc(512 * 1024)]));
  const b = await open();
  b.write(header);
  await until('both streams to be held', () => true, 100);
  const c = await open();
  await closed(c);
  await until('the third stream to be counted', () => (m.stats.dropped.TOO_MANY_STREAMS ?? 0) === 1, 2_000);
  t.pass('a third stream at once is refused');

  // b now sends more than the budget left after a's 512 KiB.
  b.write(Buffer.alloc(600 * 1024));
  await closed(b);
  await until('the over-budget stream to be counted', () => (m.stats.dropped.OVER_BUDGET ?? 0) === 1, 2_000);
  t.pass('a stream past the shared budget is dropped');
  a.destroy();
  await closed(a);

  // A frame declaring more than any stream may hold is refused on its header.
  const huge = await open();
  const big = Buffer.alloc(5);
  big[0] = MsgType.encrypt;
  big.writeUInt32BE(100 * 1024 * 1024, 1);
  huge.write(big);
  await closed(huge);
  await until('the oversized declaration to be counted', () => (m.stats.dropped.TOO_LARGE ?? 0) >= 1, 2_000);
  t.pass('an encrypted frame declaring 100 MiB is refused at once');

  // With everything released, an honest member joins.
  const port2 = await freePort();
  const other = new Memberlist({ name: 'b', addr: '127.0.0.1', port: port2, keyring: Keyring.fromBase64([key]), log, config: { pushPullIntervalMs: 3_600_000 } });
  await other.start();
  t.teardown(() => other.shutdown());
  t.equal(await other.join([`127.0.0.1:${port}`]), 1, 'an honest push-pull gets through afterwards');
  await until('both to see each other', () => m.members.list().some((x) => x.name === 'b' && x.state === 'alive'), 5_000);
});
