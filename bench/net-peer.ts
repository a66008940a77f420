// A small TCP traffic program the overlay benchmark runs inside namespaces (under nsenter), the
// same program on both paths so that only the path differs:
//   serve PORT              discard what arrives; echo each 64-byte message back (for rr)
//   stream HOST PORT BYTES  send BYTES as fast as the socket takes them; print {"bytes","ms"}
//   rr HOST PORT ROUNDS     ROUNDS sequential 64-byte round trips; print {"us": [...]}
import net from 'node:net';

const MSG = 64;

function serve(port: number): void {
  net.createServer((sock) => {
    sock.setNoDelay(true);
    let pending: Buffer = Buffer.alloc(0);
    let mode: 'unknown' | 'stream' | 'rr' = 'unknown';
    sock.on('data', (chunk: Buffer) => {
      if (mode === 'unknown') mode = chunk[0] === 0x52 /* R */ ? 'rr' : 'stream';
      if (mode === 'stream') return;
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= MSG) {
        sock.write(pending.subarray(0, MSG));
        pending = pending.subarray(MSG);
      }
    });
    sock.on('error', () => sock.destroy());
  }).listen(port, '0.0.0.0', () => process.stdout.write('ready\n'));
}

function stream(host: string, port: number, bytes: number): void {
  const chunk = Buffer.alloc(256 * 1024, 0x53);
  const sock = net.connect(port, host);
  let sent = 0;
  let start = 0;
  const pump = () => {
    while (sent < bytes) {
      sent += chunk.length;
      if (!sock.write(chunk)) return void sock.once('drain', pump);
    }
    sock.end();
  };
  sock.on('connect', () => { start = performance.now(); pump(); });
  sock.on('close', () => process.stdout.write(JSON.stringify({ bytes: sent, ms: performance.now() - start }) + '\n'));
  sock.on('error', (err) => { process.stderr.write(`${err.message}\n`); process.exit(1); });
}

function rr(host: string, port: number, rounds: number): void {
  const sock = net.connect(port, host);
  sock.setNoDelay(true);
  const msg = Buffer.alloc(MSG, 0x52);
  const us: number[] = [];
  let got = 0;
  let t0 = 0;
  const next = () => { t0 = performance.now(); sock.write(msg); };
  sock.on('connect', next);
  sock.on('data', (chunk: Buffer) => {
    got += chunk.length;
    while (got >= MSG) {
      got -= MSG;
      us.push((performance.now() - t0) * 1000);
      if (us.length === rounds) {
        process.stdout.write(JSON.stringify({ us }) + '\n');
        return void sock.destroy();
      }
      next();
    }
  });
  sock.on('error', (err) => { process.stderr.write(`${err.message}\n`); process.exit(1); });
}

const [mode, a, b, c] = process.argv.slice(2);
if (mode === 'serve') serve(Number(a));
else if (mode === 'stream') stream(a!, Number(b), Number(c));
else if (mode === 'rr') rr(a!, Number(b), Number(c));
else {
  process.stderr.write('usage: net-peer serve PORT | stream HOST PORT BYTES | rr HOST PORT ROUNDS\n');
  process.exit(2);
}
