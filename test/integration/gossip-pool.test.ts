// A pool of shoal agents only, on loopback: members learn of each other through gossip (c joins
// through a and b hears of it), a killed member is declared failed by every survivor, and a
// member stopped with SIGTERM is seen to leave rather than fail.
import { randomInt } from 'node:crypto';
import t from 'tap';
import { until } from '../lib/wait.js';
import { cli, startAgent, type RunningAgent } from '../lib/agent.js';

function members(a: RunningAgent): Record<string, string> {
  const r = cli(['-H', `unix://${a.socket}`, 'members', '--format', 'json']);
  if (r.status !== 0) return {};
  return Object.fromEntries((JSON.parse(r.stdout) as { Name: string; Status: string }[]).map((m) => [m.Name, m.Status]));
}


t.test('three shoal agents: discovery, failure, leave', async (t) => {
  const net = `127.${randomInt(100, 250)}.${randomInt(1, 250)}`;
  const start = (name: string, last: number, join?: number) =>
    startAgent(t, { args: ['--node-name', name, '--advertise-addr', `${net}.${last}`, ...(join ? ['--join-pool', `${net}.${join}:7946`] : ['--join-pool', `${net}.${last}:7946`])] });
  const a = await start('a', 21); // joins itself: the first member of a new pool
  const b = await start('b', 22, 21);
  const c = await start('c', 23, 21);

  await until('everyone to see three alive members', () => [a, b, c].every((x) => Object.values(members(x)).filter((s) => s === 'alive').length === 3), 10_000);
  t.same(members(b), { a: 'alive', b: 'alive', c: 'alive' }, 'b learned of c through gossip, never having talked to it directly');

  c.proc.kill('SIGKILL');
  const { ms } = await until('a and b to declare c failed', () => members(a).c === 'failed' && members(b).c === 'failed', 20_000);
  t.ok(ms < 12_000, `both survivors declared c failed after ${(ms / 1000).toFixed(2)} s`);

  t.equal(await b.stop(), 0, 'b stops cleanly on SIGTERM');
  await until('a to see b leave', () => members(a).b === 'left', 5_000);
  t.equal(members(a).b, 'left', 'a graceful stop is a leave, not a failure');
});
