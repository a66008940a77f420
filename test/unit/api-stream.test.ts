// A streamed API response whose client stops reading and goes away: the server stops producing (the
// source is closed) instead of waiting for ever for the socket to drain.
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { Router } from '../../src/api/router.js';
import { ApiServer } from '../../src/api/server.js';
import { until } from '../lib/wait.js';

t.test('a client that stops reading and disconnects releases the stream', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-api-stream-'));
  const socketPath = join(dir, 'api.sock');
  let produced = 0;
  let closed = false;
  async function* endless(): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        produced++;
        yield Buffer.alloc(64 * 1024, 1);
      }
    } finally {
      closed = true;
    }
  }
  const router = new Router().add('GET', '/stream', () => ({ stream: endless() }));
  const server = new ApiServer(router, pino({ level: 'silent' }), () => ({}));
  await server.listen(socketPath);
  t.teardown(async () => { await server.close(); rmSync(dir, { recursive: true, force: true }); });

  const req = http.request({ socketPath, path: '/stream' });
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => { req.on('response', resolve); req.on('error', reject); req.end(); });
  res.pause(); // read nothing: the server's writes back up
  await until('the server to be held up by backpressure', () => produced > 2, 5_000);
  const before = produced;
  await new Promise((r) => setTimeout(r, 300));
  t.ok(produced - before < 50, 'it stops producing while the client does not read');
  req.destroy();
  await until('the source to be closed after the client went away', () => closed, 5_000);
  t.pass(`the generator was closed after ${produced} chunks`);
});
