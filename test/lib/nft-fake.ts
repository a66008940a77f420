// An in-memory nftables for load-balancer tests that need no root: applies the subset of nft
// scripts the load balancers send (tables, chains, rules, line by line) with the kernel's rules for
// them — a transaction is all or nothing, a missing table or chain is ENOENT (deleting one too), a
// table or chain added twice is no error (nft's `add`) — and lists a table back as a string that
// compares equal when its contents do (undefined when there is none), as readNftTable does.
import { KernelError } from '../../src/kernel/errors.js';
import { describeNetns, type NetnsRef } from '../../src/kernel/netns.js';
import type { Transaction } from '../../src/kernel/nftables.js';

type Table = Map<string, { spec: string; rules: string[] }>;

export class FakeNft {
  private readonly tables = new Map<string, Table>();
  /** Every script applied (and refused), per namespace: the processes a change cost. */
  readonly applied: { ns: string; script: string; ok: boolean }[] = [];
  reads = 0;
  private failures: string[] = [];

  /** The next apply fails with this errno, before anything changes. */
  failNext(code: string): void {
    this.failures.push(code);
  }

  apply = async (ns: NetnsRef, tx: Transaction | string): Promise<void> => {
    const script = typeof tx === 'string' ? tx : tx.render();
    const where = describeNetns(ns);
    const injected = this.failures.shift();
    if (injected) {
      this.applied.push({ ns: where, script, ok: false });
      throw new KernelError(injected, `apply nft script in ${where}`, 'injected');
    }
    // Work on a copy: nothing changes unless every line is accepted.
    const copy = new Map([...this.tables].filter(([k]) => k.startsWith(`${where}|`)).map(([k, t]) => [k, new Map([...t].map(([c, v]) => [c, { spec: v.spec, rules: [...v.rules] }]))]));
    for (const line of script.split('\n').filter(Boolean)) {
      const m = /^(add|delete|flush) (table|chain|rule) (\S+) (\S+)(?: (\S+))?(?: (.*))?$/.exec(line);
      if (!m) throw new KernelError('EINVAL', `apply nft script in ${where}`, `the fake does not know: ${line}`);
      const [, verb, what, family, name, chain, rest] = m;
      const key = `${where}|${family} ${name}`;
      const table = copy.get(key);
      const refuse = (detail: string) => {
        this.applied.push({ ns: where, script, ok: false });
        return new KernelError('ENOENT', `apply nft script in ${where}`, `${detail} in line: ${line}`);
      };
      if (what === 'table') {
        if (verb === 'add') { if (!table) copy.set(key, new Map()); } else if (!table) throw refuse('No such file or directory: no such table');
        else if (verb === 'delete') copy.delete(key);
        else for (const c of table.values()) c.rules = [];
        continue;
      }
      if (!table) throw refuse('No such file or directory: no such table');
      if (what === 'chain') {
        if (verb === 'add') { if (!table.has(chain!)) table.set(chain!, { spec: rest ?? '', rules: [] }); } else if (!table.has(chain!)) throw refuse('No such file or directory: no such chain');
        else if (verb === 'delete') table.delete(chain!);
        else table.get(chain!)!.rules = [];
        continue;
      }
      const c = table.get(chain!);
      if (!c) throw refuse('No such file or directory: no such chain');
      if (verb !== 'add') throw new KernelError('EINVAL', `apply nft script in ${where}`, `the fake does not know: ${line}`);
      c.rules.push(rest ?? '');
    }
    for (const k of [...this.tables.keys()]) if (k.startsWith(`${where}|`)) this.tables.delete(k);
    for (const [k, t] of copy) this.tables.set(k, t);
    this.applied.push({ ns: where, script, ok: true });
  };

  read = async (ns: NetnsRef, table: string): Promise<string | undefined> => {
    this.reads++;
    const t = this.tables.get(`${describeNetns(ns)}|ip ${table}`);
    return t && JSON.stringify([...t].sort(([a], [b]) => a.localeCompare(b)));
  };

  /** Someone else changes the namespace: flushes a chain, or deletes the table. */
  tamper(ns: NetnsRef, table: string, chain?: string): void {
    const key = `${describeNetns(ns)}|ip ${table}`;
    if (chain === undefined) this.tables.delete(key);
    else this.tables.get(key)!.get(chain)!.rules = [];
  }

  rulesOf(ns: NetnsRef, table: string, chain: string): string[] | undefined {
    return this.tables.get(`${describeNetns(ns)}|ip ${table}`)?.get(chain)?.rules;
  }
}
