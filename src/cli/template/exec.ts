// Runs a parsed Go template on a value (values.ts), with text/template's builtins (and, or, not, len,
// index, slice, eq/ne/lt/le/gt/ge, print, printf, println) and the functions Docker adds (json, split,
// join, title, lower, upper, pad, truncate). Errors read as Go's
// (`template: :1:2: executing "" at <.Foo>: can't evaluate field Foo in type ...`).
import { argText, lineOf, TemplateError, type Arg, type Command, type Node, type Parsed, type Pipe } from './parse.js';
import { concrete, elems, goJson, indirect, isNil, mapEntries, sprint, str, structField, T, truth, typeName, val, type GoType, type Val } from './values.js';

export type Funcs = Record<string, (...args: Val[]) => Val>;

export interface ExecOptions {
  funcs?: Funcs;
  /** Go's missingkey option: 'default' prints <no value>, 'error' fails. */
  missingKey?: 'default' | 'error';
}

/** Raised by a failing execution; `partial` is what was written before the failure. */
export class ExecError extends TemplateError {
  constructor(message: string, readonly partial: string) {
    super(message);
  }
}

class Fail extends Error {
  constructor(readonly msg: string, readonly pos: number, readonly at: string) {
    super(msg);
  }
}
class BreakSignal {}
class ContinueSignal {}

const NO_VALUE: Val = val({ kind: 'nil', name: 'invalid' }, undefined);
const isInvalid = (x: Val) => x === NO_VALUE;

interface Scope { vars: [string, Val][] }

export function execute(tmpl: Parsed, data: Val, opts: ExecOptions = {}): string {
  const ex = new Executor(tmpl, { ...builtins, ...(opts.funcs ?? dockerFuncs) }, opts.missingKey ?? 'default');
  return ex.run(data);
}

class Executor {
  private out: string[] = [];
  private scope: Scope = { vars: [] };
  private depth = 0;

  constructor(private readonly tmpl: Parsed, private readonly funcs: Record<string, (...args: Val[]) => Val>, private readonly missingKey: 'default' | 'error') {}

  run(data: Val): string {
    this.scope = { vars: [['$', data]] };
    try {
      this.list(this.tmpl.root, data);
    } catch (err) {
      if (err instanceof Fail) {
        const loc = this.location(err.pos);
        throw new ExecError(`template: ${loc}: executing "" at <${err.at}>: ${err.msg}`, this.out.join(''));
      }
      throw err;
    }
    return this.out.join('');
  }

  private location(pos: number): string {
    const src = this.tmpl.source;
    const line = lineOf(src, pos);
    const col = pos - (src.lastIndexOf('\n', pos - 1) + 1);
    return `:${line}:${col}`;
  }

  private list(nodes: Node[], dot: Val): void {
    for (const n of nodes) this.node(n, dot);
  }

  private node(n: Node, dot: Val): void {
    switch (n.t) {
      case 'text': this.out.push(n.text); return;
      case 'action': {
        const v = this.pipe(n.pipe, dot);
        if (n.pipe.decl.length === 0) this.out.push(this.printable(v, n.pipe));
        return;
      }
      case 'if': case 'with': {
        const mark = this.scope.vars.length;
        const v = this.pipe(n.pipe, dot);
        if (truth(v)) this.list(n.list, n.t === 'with' ? v : dot);
        else if (n.elseList) this.list(n.elseList, dot);
        this.scope.vars.length = mark;
        return;
      }
      case 'range': this.range(n, dot); return;
      case 'break': throw new BreakSignal();
      case 'continue': throw new ContinueSignal();
      case 'template': {
        const body = this.tmpl.defines.get(n.name);
        if (!body) throw new Fail(`template "${n.name}" not defined`, n.pos, `{{template "${n.name}"}}`);
        if (++this.depth > 1000) throw new Fail('exceeded maximum template depth (1000)', n.pos, `{{template "${n.name}"}}`);
        const newDot = n.pipe ? this.pipe(n.pipe, dot) : NO_VALUE;
        const saved = this.scope;
        this.scope = { vars: [['$', newDot]] };
        this.list(body, newDot);
        this.scope = saved;
        this.depth--;
        return;
      }
    }
  }

  private range(n: Extract<Node, { pos: number; list: Node[] }>, dot: Val): void {
    const mark = this.scope.vars.length;
    const v = indirect(this.pipe(n.pipe, dot));
    const items: [Val, Val][] = [];
    switch (v.type.kind) {
      case 'slice': elems(v).forEach((e, i) => items.push([val(T.int, i), e])); break;
      case 'map': for (const [k, e] of mapEntries(v)) items.push([str(k), e]); break;
      case 'int': case 'number':
        for (let i = 0; i < Number(v.v); i++) items.push([val(T.int, i), val(T.int, i)]);
        break;
      case 'nil': break;
      default:
        if (isInvalid(v)) break;
        throw new Fail(`range can't iterate over ${sprint(v)}`, n.pos, 'range');
    }
    const one = (k: Val, e: Val): void => {
      if (n.pipe.decl.length === 1) this.setVar(n.pipe.decl[0]!, e, n.pipe.isAssign);
      if (n.pipe.decl.length === 2) { this.setVar(n.pipe.decl[0]!, k, n.pipe.isAssign); this.setVar(n.pipe.decl[1]!, e, n.pipe.isAssign); }
      const inner = this.scope.vars.length;
      try {
        this.list(n.list, e);
      } finally {
        this.scope.vars.length = inner;
      }
    };
    if (items.length === 0) {
      if (n.elseList) this.list(n.elseList, dot);
    } else {
      for (const [k, e] of items) {
        try {
          one(k, e);
        } catch (err) {
          if (err instanceof BreakSignal) break;
          if (err instanceof ContinueSignal) continue;
          throw err;
        }
      }
    }
    this.scope.vars.length = mark;
  }

  private setVar(name: string, v: Val, assign: boolean): void {
    if (assign) {
      for (let i = this.scope.vars.length - 1; i >= 0; i--) {
        if (this.scope.vars[i]![0] === name) { this.scope.vars[i] = [name, v]; return; }
      }
    }
    this.scope.vars.push([name, v]);
  }

  private getVar(name: string, pos: number): Val {
    for (let i = this.scope.vars.length - 1; i >= 0; i--) if (this.scope.vars[i]![0] === name) return this.scope.vars[i]![1];
    throw new Fail(`undefined variable: ${name}`, pos, name);
  }

  private pipe(p: Pipe, dot: Val): Val {
    let v: Val | undefined;
    for (const c of p.cmds) v = this.command(c, dot, v);
    const result = v ?? NO_VALUE;
    for (const d of p.decl) this.setVar(d, result, p.isAssign);
    return result;
  }

  private command(c: Command, dot: Val, final: Val | undefined): Val {
    const first = c.args[0]!;
    const rest = c.args.slice(1);
    switch (first.t) {
      case 'field': return this.fieldChain(dot, first.names, first, rest, final, dot);
      case 'var': {
        const v = this.getVar(first.name, first.pos);
        if (first.names.length === 0) {
          if (rest.length > 0 || final) throw new Fail(`can't give argument to non-function ${first.name}`, first.pos, argText(first));
          return v;
        }
        return this.fieldChain(v, first.names, first, rest, final, dot);
      }
      case 'chain': {
        const base = this.arg(first.node, dot);
        return this.fieldChain(base, first.names, first, rest, final, dot);
      }
      case 'ident': return this.call(first.name, first, rest, final, dot);
      case 'pipe':
        if (rest.length > 0 || final) throw new Fail(`can't give argument to non-function ${argText(first)}`, first.pos, argText(first));
        return this.pipe(first.pipe, dot);
      default:
        if (rest.length > 0 || final) throw new Fail(`can't give argument to non-function ${argText(first)}`, first.pos, argText(first));
        return this.arg(first, dot);
    }
  }

  /** The value of an argument (no call arguments of its own). */
  private arg(a: Arg, dot: Val): Val {
    switch (a.t) {
      case 'dot': return dot;
      case 'nil': return val(T.nil, null);
      case 'bool': return val(T.bool, a.value);
      case 'number': return val(a.isInt ? T.int : T.float, a.value);
      case 'string': return str(a.value);
      case 'field': return this.fieldChain(dot, a.names, a, [], undefined, dot);
      case 'var': return a.names.length === 0 ? this.getVar(a.name, a.pos) : this.fieldChain(this.getVar(a.name, a.pos), a.names, a, [], undefined, dot);
      case 'chain': return this.fieldChain(this.arg(a.node, dot), a.names, a, [], undefined, dot);
      case 'pipe': return this.pipe(a.pipe, dot);
      case 'ident': return this.call(a.name, a, [], undefined, dot);
    }
  }

  private fieldChain(receiver: Val, names: string[], node: Arg, args: Arg[], final: Val | undefined, dot: Val): Val {
    let r = receiver;
    names.forEach((name, i) => {
      const last = i === names.length - 1;
      r = this.field(r, name, node, last ? args : [], last ? final : undefined, dot);
    });
    return r;
  }

  private field(receiver: Val, name: string, node: Arg, args: Arg[], final: Val | undefined, dot: Val): Val {
    const at = argText(node);
    const hasArgs = args.length > 0 || final !== undefined;
    if (isInvalid(receiver)) throw new Fail(`nil data; no entry for key "${name}"`, node.pos, at);
    const r = indirect(receiver);
    if (r.type.kind === 'ptr') throw new Fail(`nil pointer evaluating ${typeName(r.type)}.${name}`, node.pos, at);
    if (r.type.kind === 'struct') {
      const f = structField(r.type, r.v, name);
      if (!f) throw new Fail(`can't evaluate field ${name} in type ${typeName(receiver.type)}`, node.pos, at);
      if (f.type.kind === 'func') {
        const fn = f.type;
        const argv = args.map((a) => this.arg(a, dot));
        if (final) argv.push(final);
        if (argv.length !== fn.params.length) throw new Fail(`wrong number of args for ${name}: want ${fn.params.length} got ${argv.length}`, node.pos, at);
        argv.forEach((a, i) => checkParam(a, fn.params[i]!, node, at));
        return val(fn.result, fn.fn(...argv));
      }
      if (hasArgs) throw new Fail(`${name} has arguments but cannot be invoked as function`, node.pos, at);
      return f;
    }
    if (r.type.kind === 'map') {
      if (hasArgs) throw new Fail(`${name} is not a method but has arguments`, node.pos, at);
      const obj = r.v as Record<string, unknown> | null | undefined;
      if (obj && Object.prototype.hasOwnProperty.call(obj, name)) return val(r.type.elem, obj[name]);
      if (this.missingKey === 'error') throw new Fail(`map has no entry for key "${name}"`, node.pos, at);
      return NO_VALUE;
    }
    if (r.type.kind === 'nil') throw new Fail(`nil pointer evaluating interface {}.${name}`, node.pos, at);
    throw new Fail(`can't evaluate field ${name} in type ${typeName(r.type)}`, node.pos, at);
  }

  private call(name: string, node: Arg, args: Arg[], final: Val | undefined, dot: Val): Val {
    const at = name;
    if (name === 'and' || name === 'or') {
      // short-circuit: the first false (and) / true (or) argument, else the last
      const all = [...args];
      if (all.length === 0 && !final) throw new Fail(`wrong number of args for ${name}: want at least 1 got 0`, node.pos, at);
      let v: Val = NO_VALUE;
      for (const a of all) {
        v = this.arg(a, dot);
        if (truth(v) === (name === 'or')) return v;
      }
      if (final) v = final;
      return v;
    }
    const fn = this.funcs[name];
    if (!fn) throw new Fail(`"${name}" is not a defined function`, node.pos, at);
    const argv = args.map((a) => this.arg(a, dot));
    if (final) argv.push(final);
    try {
      return fn(...argv);
    } catch (err) {
      if (err instanceof Fail) throw err;
      if (err instanceof CallError) throw new Fail(err.direct ? err.message : `error calling ${name}: ${err.message}`, node.pos, at);
      throw err;
    }
  }

  private printable(v: Val, p: Pipe): string {
    if (isInvalid(v)) return '<no value>';
    const c = indirect(v);
    if (c.type.kind === 'func') throw new Fail(`can't print ${p.cmds.map((x) => x.args.map(argText).join(' ')).join(' | ')} of type ${typeName(c.type)}`, p.pos, '');
    return sprint(c);
  }
}

/** A function's error; `direct` messages are Go's own wording (not wrapped in "error calling"). */
export class CallError extends Error {
  constructor(message: string, readonly direct = false) {
    super(message);
  }
}

function checkParam(a: Val, kind: 'string' | 'int' | 'any', node: Arg, at: string): void {
  const c = concrete(a);
  if (kind === 'string' && c.type.kind !== 'string') throw new Fail(`wrong type for value; expected string; got ${typeName(c.type)}`, node.pos, at);
  if (kind === 'int' && c.type.kind !== 'int') throw new Fail(`wrong type for value; expected int; got ${typeName(c.type)}`, node.pos, at);
}

function wantArgs(name: string, args: Val[], n: number): void {
  if (args.length !== n) throw new CallError(`wrong number of args for ${name}: want ${n} got ${args.length}`, true);
}

function wantString(a: Val): string {
  if (isNil(a) && a.type.kind !== 'string') throw new CallError(`invalid value; expected string`, true);
  const c = concrete(a);
  if (c.type.kind !== 'string') throw new CallError(`wrong type for value; expected string; got ${typeName(c.type)}`, true);
  return String(c.v ?? '');
}

function wantInt(a: Val): number {
  const c = concrete(a);
  if (c.type.kind !== 'int') throw new CallError(`wrong type for value; expected int; got ${typeName(c.type)}`, true);
  return Number(c.v ?? 0);
}

function basicKind(c: Val): 'string' | 'bool' | 'num' | 'nil' | 'other' {
  switch (c.type.kind) {
    case 'string': return 'string';
    case 'bool': return 'bool';
    case 'int': case 'float': case 'number': case 'duration': return 'num';
    case 'nil': return 'nil';
    default: return 'other';
  }
}

function compare(name: string, a: Val, b: Val): number {
  const x = indirect(a);
  const y = indirect(b);
  const kx = basicKind(x);
  const ky = basicKind(y);
  if (kx !== ky || kx === 'other' || kx === 'nil') {
    if (name === 'eq' || name === 'ne') {
      if (kx === 'nil' || ky === 'nil') return isNil(x) && isNil(y) ? 0 : 1;
      if (kx === 'other' && ky === 'other') throw new CallError('non-comparable types', false);
    }
    if (kx === 'other' || ky === 'other') throw new CallError(`invalid type for comparison`);
    throw new CallError('incompatible types for comparison');
  }
  if (kx === 'bool' && name !== 'eq' && name !== 'ne') throw new CallError('invalid type for comparison');
  const xv = x.v as string | number | boolean;
  const yv = y.v as string | number | boolean;
  return xv === yv ? 0 : xv < yv ? -1 : 1;
}

const boolVal = (b: boolean) => val(T.bool, b);

/** fmt.Sprint: a space between operands when neither is a string. */
function goSprint(args: Val[]): string {
  let out = '';
  args.forEach((a, i) => {
    const c = concrete(a);
    if (i > 0 && c.type.kind !== 'string' && concrete(args[i - 1]!).type.kind !== 'string') out += ' ';
    out += a === NO_VALUE ? '<nil>' : sprint(c);
  });
  return out;
}

/** fmt.Sprintf with the common verbs: %v %s %d %q %t %x %X %f %e %g %%, flags -, 0, + and width/precision. */
export function goSprintf(format: string, args: Val[]): string {
  let argi = 0;
  return format.replace(/%([-+# 0]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])/g, (_m, flags: string, width: string | undefined, prec: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    if (argi >= args.length) return `%!${verb}(MISSING)`;
    const a = indirect(args[argi++]!);
    let s: string;
    switch (verb) {
      case 'v': s = sprint(a); break;
      case 's': s = sprint(a); if (prec !== undefined) s = [...s].slice(0, Number(prec)).join(''); break;
      case 'q': s = JSON.stringify(sprint(a)); break;
      case 'd': s = a.type.kind === 'int' || a.type.kind === 'number' ? `${flags.includes('+') && Number(a.v) >= 0 ? '+' : ''}${Math.trunc(Number(a.v))}` : `%!d(${typeName(a.type)}=${sprint(a)})`; break;
      case 't': s = a.type.kind === 'bool' ? sprint(a) : `%!t(${typeName(a.type)}=${sprint(a)})`; break;
      case 'x': case 'X': {
        const h = typeof a.v === 'number' ? a.v.toString(16) : Buffer.from(sprint(a)).toString('hex');
        s = verb === 'X' ? h.toUpperCase() : h;
        break;
      }
      case 'f': case 'e': case 'g': {
        const n = Number(a.v);
        s = verb === 'f' ? n.toFixed(prec === undefined ? 6 : Number(prec)) : verb === 'e' ? n.toExponential(prec === undefined ? 6 : Number(prec)).replace(/e([+-])(\d)$/, 'e$10$2') : String(n);
        break;
      }
      default: s = `%!${verb}(${typeName(a.type)}=${sprint(a)})`;
    }
    const w = width === undefined ? 0 : Number(width);
    if ([...s].length < w) {
      const padLen = w - [...s].length;
      if (flags.includes('-')) s = s + ' '.repeat(padLen);
      else if (flags.includes('0') && /[dfxXeg]/.test(verb)) s = (s.startsWith('-') ? '-' : '') + '0'.repeat(padLen) + s.replace(/^-/, '');
      else s = ' '.repeat(padLen) + s;
    }
    return s;
  }) + (argi < args.length ? `%!(EXTRA ${args.slice(argi).map((a) => `${typeName(concrete(a).type)}=${sprint(a)}`).join(', ')})` : '');
}

/** text/template's predefined functions (and/or are handled by the executor: they short-circuit). */
export const builtins: Funcs = {
  not: (...a) => { wantArgs('not', a, 1); return boolVal(!truth(a[0]!)); },
  len: (...a) => {
    wantArgs('len', a, 1);
    const c = indirect(a[0]!);
    switch (c.type.kind) {
      case 'string': return val(T.int, Buffer.byteLength(String(c.v ?? '')));
      case 'slice': return val(T.int, Array.isArray(c.v) ? c.v.length : 0);
      case 'map': return val(T.int, c.v && typeof c.v === 'object' ? Object.keys(c.v).length : 0);
      default: throw new CallError(`len of type ${typeName(c.type)}`);
    }
  },
  index: (...a) => {
    if (a.length === 0) throw new CallError('wrong number of args for index: want at least 1 got 0', true);
    let item = a[0]!;
    for (const k of a.slice(1)) {
      const c = indirect(item);
      const key = concrete(k);
      if (c.type.kind === 'slice') {
        if (key.type.kind !== 'int' && key.type.kind !== 'number') throw new CallError(`cannot index slice/array with type ${typeName(key.type)}`);
        const list = elems(c);
        const i = Number(key.v);
        if (i < 0 || i >= list.length) throw new CallError(`index out of range: ${i}`);
        item = list[i]!;
      } else if (c.type.kind === 'string') {
        const bytes = Buffer.from(String(c.v ?? ''));
        const i = Number(key.v);
        if (i < 0 || i >= bytes.length) throw new CallError(`index out of range: ${i}`);
        item = val({ kind: 'int', name: 'uint8' }, bytes[i]);
      } else if (c.type.kind === 'map') {
        if (key.type.kind !== 'string') throw new CallError(`value has type ${typeName(key.type)}; should be string`);
        const obj = (c.v ?? {}) as Record<string, unknown>;
        const has = Object.prototype.hasOwnProperty.call(obj, String(key.v));
        item = has ? val(c.type.elem, obj[String(key.v)]) : zeroOf(c.type.elem);
      } else if (c.type.kind === 'nil') {
        throw new CallError('index of untyped nil');
      } else {
        throw new CallError(`can't index item of type ${typeName(c.type)}`);
      }
    }
    return item;
  },
  slice: (...a) => {
    if (a.length === 0) throw new CallError('wrong number of args for slice: want at least 1 got 0', true);
    const c = indirect(a[0]!);
    const idx = a.slice(1).map((x) => Number(concrete(x).v));
    if (c.type.kind === 'string') {
      const s = String(c.v ?? '');
      const [i = 0, j = Buffer.byteLength(s)] = idx;
      if (idx.length > 2) throw new CallError('cannot 3-index slice a string');
      if (i < 0 || j < i || j > Buffer.byteLength(s)) throw new CallError(`index out of range: ${j > Buffer.byteLength(s) ? j : i}`);
      return str(Buffer.from(s).subarray(i, j).toString());
    }
    if (c.type.kind === 'slice') {
      const list = Array.isArray(c.v) ? c.v : [];
      const [i = 0, j = list.length] = idx;
      if (i < 0 || j < i || j > list.length) throw new CallError(`index out of range: ${j > list.length ? j : i}`);
      return val(c.type, list.slice(i, j));
    }
    throw new CallError(`can't slice item of type ${typeName(c.type)}`);
  },
  eq: (...a) => {
    if (a.length < 2) throw new CallError('missing argument for comparison');
    return boolVal(a.slice(1).some((b) => compare('eq', a[0]!, b) === 0));
  },
  ne: (...a) => { wantArgs('ne', a, 2); return boolVal(compare('ne', a[0]!, a[1]!) !== 0); },
  lt: (...a) => { wantArgs('lt', a, 2); return boolVal(compare('lt', a[0]!, a[1]!) < 0); },
  le: (...a) => { wantArgs('le', a, 2); return boolVal(compare('le', a[0]!, a[1]!) <= 0); },
  gt: (...a) => { wantArgs('gt', a, 2); return boolVal(compare('gt', a[0]!, a[1]!) > 0); },
  ge: (...a) => { wantArgs('ge', a, 2); return boolVal(compare('ge', a[0]!, a[1]!) >= 0); },
  print: (...a) => str(goSprint(a)),
  println: (...a) => str(a.map((x) => (x === NO_VALUE ? '<nil>' : sprint(x))).join(' ') + '\n'),
  printf: (...a) => {
    if (a.length === 0) throw new CallError('wrong number of args for printf: want at least 1 got 0', true);
    return str(goSprintf(wantString(a[0]!), a.slice(1)));
  },
  html: (...a) => str(goSprint(a).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;')),
  urlquery: (...a) => str(encodeURIComponent(goSprint(a)).replace(/%20/g, '+')),
};

function zeroOf(t: GoType): Val {
  if (t.kind === 'any') return val(T.nil, null); // a nil interface{}: prints <nil>
  const zero: Record<string, unknown> = { string: '', bool: false, int: 0, float: 0, number: 0, duration: 0 };
  return val(t, zero[t.kind]);
}

/** strings.Title: the first letter of every word upper-cased. */
function goTitle(s: string): string {
  let prev = ' ';
  let out = '';
  for (const ch of s) {
    const sep = !/[\p{L}\p{N}_]/u.test(prev);
    out += sep ? ch.toUpperCase() : ch;
    prev = ch;
  }
  return out;
}

/** The functions docker/cli's templates package adds. */
export const dockerFuncs: Funcs = {
  json: (...a) => { wantArgs('json', a, 1); return str(a[0] === NO_VALUE ? 'null' : goJson(a[0]!)); },
  split: (...a) => {
    wantArgs('split', a, 2);
    const s = wantString(a[0]!);
    const sep = wantString(a[1]!);
    return val(T.slice(T.string), sep === '' ? [...s] : s.split(sep));
  },
  join: (...a) => {
    wantArgs('join', a, 2);
    const sep = wantString(a[1]!);
    const c = indirect(a[0]!);
    if (isNil(c) && c.type.kind === 'nil') return str('');
    if (c.type.kind === 'slice') return str(elems(c).map((e) => sprint(e)).join(sep));
    if (c.type.kind === 'map') return str(mapEntries(c).map(([, e]) => sprint(e)).sort().join(sep));
    throw new CallError(`expected slice, got ${typeName(c.type)}`);
  },
  title: (...a) => { wantArgs('title', a, 1); return str(goTitle(wantString(a[0]!))); },
  lower: (...a) => { wantArgs('lower', a, 1); return str(wantString(a[0]!).toLowerCase()); },
  upper: (...a) => { wantArgs('upper', a, 1); return str(wantString(a[0]!).toUpperCase()); },
  pad: (...a) => {
    wantArgs('pad', a, 3);
    const s = wantString(a[0]!);
    const pre = wantInt(a[1]!);
    const suf = wantInt(a[2]!);
    return str(s === '' ? s : ' '.repeat(Math.max(0, pre)) + s + ' '.repeat(Math.max(0, suf)));
  },
  truncate: (...a) => {
    wantArgs('truncate', a, 2);
    const s = wantString(a[0]!);
    const n = wantInt(a[1]!);
    const b = Buffer.from(s);
    return str(b.length < n ? s : b.subarray(0, Math.max(0, n)).toString());
  },
};

/** Docker's header functions: the same names, but they leave the column title as it is (pad still pads). */
export const headerFuncs: Funcs = {
  ...dockerFuncs,
  json: (...a) => str(wantString(a[0]!)),
  split: (...a) => str(wantString(a[0]!)),
  join: (...a) => str(wantString(a[0]!)),
  title: (...a) => str(wantString(a[0]!)),
  lower: (...a) => str(wantString(a[0]!)),
  upper: (...a) => str(wantString(a[0]!)),
  truncate: (...a) => str(wantString(a[0]!)),
};

/** Names every template may call, for the parser's "function not defined" check. */
export const knownFunctions = new Set(['and', 'or', ...Object.keys(builtins), ...Object.keys(dockerFuncs)]);
