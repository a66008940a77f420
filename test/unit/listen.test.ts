// whenListening: resolves once a server listens, rejects with the bind error, and sends later
// errors to the given handler instead of leaving them unhandled.
import net from 'node:net';
import dgram from 'node:dgram';
import t from 'tap';
import { whenListening } from '../../src/util/listen.js';

t.test('a TCP server: listening, then the address taken by a second one', async (t) => {
  const a = net.createServer();
  t.teardown(() => { a.close(); });
  await whenListening(a, () => a.listen(0, '127.0.0.1'));
  const port = (a.address() as net.AddressInfo).port;
  t.ok(port > 0, 'listening on an ephemeral port');
  const b = net.createServer();
  await t.rejects(whenListening(b, () => b.listen(port, '127.0.0.1')), { code: 'EADDRINUSE' }, 'the bind error rejects');
  t.equal(b.listenerCount('error'), 0, 'and leaves no handler behind');
});

t.test('a UDP socket, and errors after listening going to the handler', async (t) => {
  const s = dgram.createSocket('udp4');
  t.teardown(() => s.close());
  const later: Error[] = [];
  await whenListening(s, () => s.bind(0, '127.0.0.1'), (err) => later.push(err));
  t.ok(s.address().port > 0, 'bound');
  s.emit('error', new Error('after'));
  t.same(later.map((e) => e.message), ['after'], 'a later error reaches the handler, the process lives on');
});
