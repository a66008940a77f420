// remoteLogs against a node API that never ends its line: the reader stops with an error naming the
// node instead of buffering for ever; honest lines still come through.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { createCa, createKeyAndCsr, signNodeCsr, type CaFiles } from '../../src/cluster/ca.js';
import { MAX_REMOTE_LOG_LINE, remoteLogs } from '../../src/cluster/node-api.js';

const ca = createCa();
function node(nodeId: string): CaFiles {
  const { keyPem, csrPem } = createKeyAndCsr();
  return { certPem: signNodeCsr(ca, csrPem, { nodeId, role: 'worker', clusterId: 'c1', addr: '127.0.0.1' }), keyPem };
}
const peer = node('peer');
const me = node('me');

async function serve(t: { teardown(fn: () => unknown): void }, body: (res: import('node:http').ServerResponse) => void): Promise<number> {
  const server = https.createServer({ cert: peer.certPem, key: peer.keyPem, ca: [ca.certPem], requestCert: true, rejectUnauthorized: true }, (_req, res) => body(res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return (server.address() as AddressInfo).port;
}

t.test('honest lines come through; an endless line is refused', async (t) => {
  const files = { caCert: ca.certPem, node: me };
  const good = await serve(t, (res) => {
    res.writeHead(200);
    res.end(JSON.stringify({ line: 'hello' }) + '\n' + JSON.stringify({ line: 'world' }) + '\n');
  });
  const lines: unknown[] = [];
  for await (const l of remoteLogs(files, { nodeId: 'peer', addr: '127.0.0.1', port: good }, 'task1', {})) lines.push(l);
  t.same(lines, [{ line: 'hello' }, { line: 'world' }], 'both lines');

  const endless = await serve(t, (res) => {
    res.writeHead(200);
    const chunk = 'x'.repeat(64 * 1024);
    const pump = () => { while (!res.destroyed && res.write(chunk)); if (!res.destroyed) res.once('drain', pump); };
    pump();
  });
  await t.rejects(async () => {
    for await (const _ of remoteLogs(files, { nodeId: 'peer', addr: '127.0.0.1', port: endless }, 'task1', {})) void _;
  }, { message: new RegExp(`node peer sent a log line of more than ${MAX_REMOTE_LOG_LINE} bytes`) }, 'the reader gives up past the limit');
});
