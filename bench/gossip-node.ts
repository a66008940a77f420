// A shoal gossip node in its own process, on real UDP/TCP sockets, driven by the gossip benchmark
// over stdin/stdout (one JSON object per line), so that it can be killed with SIGKILL like a Serf
// agent. Started as `node dist/bench/gossip-node.js '<json options>'`; not meant to be run by hand.
//
//   in:  {"cmd":"join","addrs":["127.0.0.11:7946"]}  {"cmd":"put","key":"k1","seq":1}
//        {"cmd":"leave"}  {"cmd":"stats"}
//   out: {"ev":"ready"}  {"ev":"joined","n":1}  {"ev":"member","name":"n2","state":"alive"}
//        {"ev":"entry","key":"k1"}  {"ev":"stats",...}  {"ev":"left"}  {"ev":"error","message":"..."}
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { benchValue, BENCH_TABLE, createShoalNode } from './gossip-shoal.js';

interface NodeArgs {
  name: string;
  addr: string;
  port?: number;
}

type Command =
  | { cmd: 'join'; addrs: string[] }
  | { cmd: 'put'; key: string; seq: number }
  | { cmd: 'leave' }
  | { cmd: 'stats' };

function say(ev: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(ev)}\n`);
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as NodeArgs;
  const log = pino({ level: 'warn', base: { node: args.name } }, pino.destination({ fd: 2, sync: true }));
  const node = createShoalNode({ name: args.name, addr: args.addr, port: args.port, log });
  node.memberlist.on('join', (m) => say({ ev: 'member', name: m.name, state: 'alive' }));
  node.memberlist.on('leave', (m) => say({ ev: 'member', name: m.name, state: m.state }));
  node.store.watch((e) => {
    if (e.entry.table === BENCH_TABLE) say({ ev: 'entry', key: e.entry.key, origin: e.origin });
  });
  await node.start();
  say({ ev: 'ready' });

  const handle = async (c: Command): Promise<void> => {
    switch (c.cmd) {
      case 'join':
        say({ ev: 'joined', n: await node.memberlist.join(c.addrs) });
        return;
      case 'put':
        node.table.put(c.key, benchValue(c.seq, args.name));
        return;
      case 'stats':
        say({ ev: 'stats', ...node.memberlist.stats, replicator: node.replicator.stats });
        return;
      case 'leave':
        await node.leave();
        say({ ev: 'left' });
        process.exit(0);
    }
  };
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (line.trim() === '') return;
    handle(JSON.parse(line) as Command).catch((err: unknown) => say({ ev: 'error', message: (err as Error).message }));
  });
  // The benchmark going away (stdin closed) ends the node too, so nothing outlives a crashed run.
  lines.on('close', () => process.exit(0));
}

main().catch((err: unknown) => {
  say({ ev: 'error', message: (err as Error).message });
  process.exit(1);
});
