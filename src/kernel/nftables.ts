// nftables through transactions: a Transaction collects changes to one table (chains, rules, sets,
// maps, elements) and applies them atomically with one `nft -f -` run inside a network namespace.
// What is sent is proportional to the change, never the whole ruleset. Read-back parses `nft -j`.
import { KernelError } from './errors.js';
import { describeNetns, type NetnsRef } from './netns.js';
import { runInNetns, type RunResult } from './run-in-netns.js';

export type NftFamily = 'ip' | 'ip6' | 'inet' | 'arp' | 'bridge' | 'netdev';
export type NftHook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting' | 'ingress';

export interface BaseChainSpec {
  type: 'filter' | 'nat' | 'route';
  hook: NftHook;
  /** Numeric, because nft 1.0.6 refuses some named priorities (e.g. dstnat on output). Docker's: dstnat -100, srcnat 100. */
  priority: number;
  policy?: 'accept' | 'drop';
}

export interface SetSpec {
  /** Key type, e.g. 'ipv4_addr' or 'ipv4_addr . inet_service'. */
  type: string;
  flags?: ('constant' | 'interval' | 'timeout' | 'dynamic')[];
}

export interface MapSpec extends SetSpec {
  /** Value type, e.g. 'verdict' or 'ipv4_addr'. */
  valueType: string;
}

const IDENT = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const FAMILIES: readonly NftFamily[] = ['ip', 'ip6', 'inet', 'arp', 'bridge', 'netdev'];

function checkIdent(kind: string, name: string): string {
  if (!IDENT.test(name)) throw new KernelError('EINVAL', `nft ${kind} name`, `'${name}' is not a valid nft identifier (a letter, then up to 63 letters, digits, '_', '.', '-')`);
  return name;
}

/** A rule, element or type expression: one line of nft syntax, never a newline or a command separator at top level. */
function checkText(kind: string, text: string): string {
  if (text.trim() === '' || /[\r\n]/.test(text)) throw new KernelError('EINVAL', `nft ${kind}`, `${kind} must be one non-empty line: ${JSON.stringify(text)}`);
  return text.trim();
}

/**
 * Changes to one table, applied all or nothing by apply(). Methods return this, so a transaction
 * reads like the change it makes.
 */
export class Transaction {
  private readonly lines: string[] = [];
  readonly family: NftFamily;
  readonly table: string;

  constructor(family: NftFamily, table: string) {
    if (!FAMILIES.includes(family)) throw new KernelError('EINVAL', 'nft family', `'${family}' is not one of ${FAMILIES.join(', ')}`);
    this.family = family;
    this.table = checkIdent('table', table);
  }

  private get t(): string {
    return `${this.family} ${this.table}`;
  }

  private push(line: string): this {
    this.lines.push(line);
    return this;
  }

  /** Creates the table if missing (nft's `add` is idempotent for tables, chains and sets). */
  addTable(): this {
    return this.push(`add table ${this.t}`);
  }

  deleteTable(): this {
    return this.push(`delete table ${this.t}`);
  }

  flushTable(): this {
    return this.push(`flush table ${this.t}`);
  }

  /** A base chain when spec is given, else a regular chain (a jump/goto target). */
  addChain(name: string, spec?: BaseChainSpec): this {
    checkIdent('chain', name);
    if (!spec) return this.push(`add chain ${this.t} ${name}`);
    if (!Number.isInteger(spec.priority)) throw new KernelError('EINVAL', 'nft chain priority', `priority must be an integer, got ${spec.priority}`);
    const policy = spec.policy ? ` policy ${spec.policy} ;` : '';
    return this.push(`add chain ${this.t} ${name} { type ${spec.type} hook ${spec.hook} priority ${spec.priority} ;${policy} }`);
  }

  flushChain(name: string): this {
    return this.push(`flush chain ${this.t} ${checkIdent('chain', name)}`);
  }

  deleteChain(name: string): this {
    return this.push(`delete chain ${this.t} ${checkIdent('chain', name)}`);
  }

  /** Appends a rule at the end of the chain. */
  addRule(chain: string, rule: string): this {
    return this.push(`add rule ${this.t} ${checkIdent('chain', chain)} ${checkText('rule', rule)}`);
  }

  /** Puts a rule at the start of the chain. */
  insertRule(chain: string, rule: string): this {
    return this.push(`insert rule ${this.t} ${checkIdent('chain', chain)} ${checkText('rule', rule)}`);
  }

  deleteRule(chain: string, handle: number): this {
    if (!Number.isSafeInteger(handle) || handle <= 0) throw new KernelError('EINVAL', 'nft rule handle', `handle must be a positive integer, got ${handle}`);
    return this.push(`delete rule ${this.t} ${checkIdent('chain', chain)} handle ${handle}`);
  }

  addSet(name: string, spec: SetSpec): this {
    return this.push(`add set ${this.t} ${checkIdent('set', name)} { ${setBody(spec)} }`);
  }

  addMap(name: string, spec: MapSpec): this {
    checkText('map value type', spec.valueType);
    return this.push(`add map ${this.t} ${checkIdent('map', name)} { ${setBody(spec, spec.valueType)} }`);
  }

  flushSet(name: string): this {
    return this.push(`flush set ${this.t} ${checkIdent('set', name)}`);
  }

  flushMap(name: string): this {
    return this.push(`flush map ${this.t} ${checkIdent('map', name)}`);
  }

  deleteSet(name: string): this {
    return this.push(`delete set ${this.t} ${checkIdent('set', name)}`);
  }

  deleteMap(name: string): this {
    return this.push(`delete map ${this.t} ${checkIdent('map', name)}`);
  }

  /** Adds elements to a set or map; map elements are written `key : value`. */
  addElements(setOrMap: string, elements: readonly string[]): this {
    return this.elements('add', setOrMap, elements);
  }

  deleteElements(setOrMap: string, elements: readonly string[]): this {
    return this.elements('delete', setOrMap, elements);
  }

  /** Number of commands collected. */
  get size(): number {
    return this.lines.length;
  }

  /** The nft script this transaction sends. */
  render(): string {
    return this.lines.map((l) => l + '\n').join('');
  }

  private elements(verb: 'add' | 'delete', name: string, elements: readonly string[]): this {
    checkIdent('set', name);
    if (elements.length === 0) return this;
    const body = elements.map((e) => checkText('element', e)).join(', ');
    return this.push(`${verb} element ${this.t} ${name} { ${body} }`);
  }
}

function setBody(spec: SetSpec, valueType?: string): string {
  checkText('set type', spec.type);
  const type = valueType ? `type ${spec.type} : ${valueType} ;` : `type ${spec.type} ;`;
  const flags = spec.flags && spec.flags.length > 0 ? ` flags ${spec.flags.join(', ')} ;` : '';
  return `${type}${flags}`;
}

const ERRNO_TEXT: [RegExp, string][] = [
  [/No such file or directory/, 'ENOENT'],
  [/File exists/, 'EEXIST'],
  [/Operation not permitted/, 'EPERM'],
  [/Permission denied/, 'EACCES'],
  [/Device or resource busy/, 'EBUSY'],
  [/Operation not supported/, 'EOPNOTSUPP'],
  [/No buffer space available/, 'ENOBUFS'],
  [/Invalid argument/, 'EINVAL'],
  [/syntax error|unexpected|Could not parse|does not exist|not supported/i, 'EINVAL'],
];

/**
 * nft's error (first "Error:" line) as a KernelError naming the failing line of the script.
 * nft prints "<file>:<line>:<col>: Error: <message>" followed by the offending line.
 */
export function nftError(stderr: string, script: string, op: string): KernelError {
  const lines = stderr.split('\n');
  const i = lines.findIndex((l) => /Error:/.test(l));
  const first = i >= 0 ? lines[i]!.replace(/^.*?Error:\s*/, '') : stderr.trim() || 'nft failed';
  const lineNo = i >= 0 ? /:(\d+):\d+(?:-\d+)?:\s*Error:/.exec(lines[i]!)?.[1] : undefined;
  const offending = lineNo ? script.split('\n')[Number(lineNo) - 1] : undefined;
  const code = ERRNO_TEXT.find(([re]) => re.test(first))?.[1] ?? 'EINVAL';
  return new KernelError(code, op, offending ? `${first} in line ${lineNo}: ${offending}` : first);
}

/** Runs nft inside the namespace. */
function runNft(ref: NetnsRef, args: string[], input?: string, signal?: AbortSignal): Promise<RunResult> {
  return runInNetns(ref, 'nft', args, { ...(input !== undefined ? { input } : {}), ...(signal ? { signal } : {}), missing: 'install the nftables package (apt-get install nftables)' });
}

/** Applies a transaction (or a whole script) atomically: all of it, or nothing. */
export async function applyNft(ref: NetnsRef, tx: Transaction | string, opts: { signal?: AbortSignal } = {}): Promise<void> {
  const script = typeof tx === 'string' ? tx : tx.render();
  if (script.trim() === '') return;
  const what = typeof tx === 'string' ? 'nft script' : `nft transaction on ${tx.family} ${tx.table} (${tx.size} commands)`;
  const r = await runNft(ref, ['-f', '-'], script, opts.signal);
  if (r.status !== 0) throw nftError(r.stderr, script, `apply ${what} in ${describeNetns(ref)}`);
}

export interface NftTableInfo { family: NftFamily; name: string; handle: number }
export interface NftChainInfo { family: NftFamily; table: string; name: string; handle: number; type?: string; hook?: string; prio?: number; policy?: string }
export interface NftRuleInfo { family: NftFamily; table: string; chain: string; handle: number; expr: unknown[]; comment?: string }
export interface NftSetInfo { family: NftFamily; table: string; name: string; handle: number; type: string | string[]; map?: string | string[]; flags?: string[]; elem?: unknown[] }

export interface NftTableContents {
  table: NftTableInfo;
  chains: NftChainInfo[];
  rules: NftRuleInfo[];
  sets: NftSetInfo[];
  maps: NftSetInfo[];
}

async function listJson(ref: NetnsRef, args: string[]): Promise<Record<string, unknown>[]> {
  const r = await runNft(ref, ['-j', ...args]);
  if (r.status !== 0) throw nftError(r.stderr, '', `nft ${args.join(' ')} in ${describeNetns(ref)}`);
  const parsed = JSON.parse(r.stdout || '{"nftables":[]}') as { nftables?: Record<string, unknown>[] };
  return parsed.nftables ?? [];
}

export async function listTables(ref: NetnsRef): Promise<NftTableInfo[]> {
  const items = await listJson(ref, ['list', 'tables']);
  return items.filter((i) => 'table' in i).map((i) => i.table as NftTableInfo);
}

/** Reads a whole table back (chains, rules with handles, sets and maps with elements). ENOENT if missing. */
export async function readTable(ref: NetnsRef, family: NftFamily, table: string): Promise<NftTableContents> {
  checkIdent('table', table);
  const items = await listJson(ref, ['list', 'table', family, table]);
  const pick = <T>(key: string) => items.filter((i) => key in i).map((i) => i[key] as T);
  const [info] = pick<NftTableInfo>('table');
  if (!info) throw new KernelError('ENOENT', `read nft table ${family} ${table}`, 'no such table');
  return { table: info, chains: pick('chain'), rules: pick('rule'), sets: pick('set'), maps: pick('map') };
}
