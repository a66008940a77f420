// Go text/template syntax, as `docker ... --format` takes it: lexes and parses a template into a tree
// (text, actions, if/range/with/else, define/template, pipelines, variables, field chains). Errors
// read as Go's ("template: :1: unexpected EOF"). Evaluation lives in exec.ts.

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

export type Arg =
  | { t: 'field'; pos: number; names: string[] }
  | { t: 'var'; pos: number; name: string; names: string[] }
  | { t: 'dot'; pos: number }
  | { t: 'nil'; pos: number }
  | { t: 'bool'; pos: number; value: boolean }
  | { t: 'number'; pos: number; text: string; value: number; isInt: boolean }
  | { t: 'string'; pos: number; text: string; value: string }
  | { t: 'ident'; pos: number; name: string }
  | { t: 'pipe'; pos: number; pipe: Pipe }
  | { t: 'chain'; pos: number; node: Arg; names: string[] };

export interface Command { pos: number; args: Arg[] }
export interface Pipe { pos: number; decl: string[]; isAssign: boolean; cmds: Command[] }

export type Node =
  | { t: 'text'; text: string }
  | { t: 'action'; pos: number; pipe: Pipe }
  | { t: 'if' | 'range' | 'with'; pos: number; pipe: Pipe; list: Node[]; elseList?: Node[] }
  | { t: 'break' | 'continue'; pos: number }
  | { t: 'template'; pos: number; name: string; pipe?: Pipe };

export interface Parsed { root: Node[]; defines: Map<string, Node[]>; source: string }

type TokType = 'text' | 'left' | 'right' | 'space' | 'field' | 'var' | 'dot' | 'ident' | 'keyword' | 'string' | 'rawstring' | 'char' | 'number' | 'bool' | 'nil' | 'pipe' | 'lparen' | 'rparen' | 'declare' | 'assign' | 'comma' | 'eof';
interface Tok { type: TokType; val: string; pos: number }

const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue']);
const SPACE = new Set([' ', '\t', '\r', '\n']);
const isAlnum = (c: string | undefined) => c !== undefined && /[\p{L}\p{N}_]/u.test(c);

/** Splits the source into text and action tokens, honouring {{- and -}} trim markers and comments. */
function lex(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const fail = (pos: number, msg: string): never => { throw new TemplateError(`template: :${lineOf(src, pos)}: ${msg}`); };
  while (i <= src.length) {
    const open = src.indexOf('{{', i);
    let text = open < 0 ? src.slice(i) : src.slice(i, open);
    if (open < 0) {
      if (text) toks.push({ type: 'text', val: text, pos: i });
      break;
    }
    let p = open + 2;
    const trimLeft = src[p] === '-' && SPACE.has(src[p + 1] ?? '');
    if (trimLeft) { text = text.replace(/[ \t\r\n]+$/, ''); p += 1; }
    if (text) toks.push({ type: 'text', val: text, pos: i });
    // comment
    let q = p;
    while (trimLeft && SPACE.has(src[q] ?? '')) q++;
    if (src.startsWith('/*', q)) {
      const end = src.indexOf('*/', q + 2);
      if (end < 0) fail(q, 'unclosed comment');
      let r = end + 2;
      let trimRight = false;
      if (src[r] === ' ' && src.startsWith(' -}}', r)) { trimRight = true; r += 4; } else if (src.startsWith('}}', r)) r += 2; else fail(r, 'comment ends before closing delimiter');
      i = r;
      if (trimRight) while (SPACE.has(src[i] ?? '')) i++;
      continue;
    }
    toks.push({ type: 'left', val: '{{', pos: open });
    let parenDepth = 0;
    for (;;) {
      if (p >= src.length) fail(p, 'unclosed action');
      const c = src[p]!;
      if (SPACE.has(c)) {
        const s = p;
        while (SPACE.has(src[p] ?? '')) p++;
        if (src[p] === '-' && src.startsWith('-}}', p)) {
          toks.push({ type: 'right', val: '}}', pos: p });
          p += 3;
          while (SPACE.has(src[p] ?? '')) p++;
          break;
        }
        toks.push({ type: 'space', val: src.slice(s, p), pos: s });
        continue;
      }
      if (src.startsWith('}}', p)) {
        if (parenDepth > 0) fail(p, 'unclosed left paren');
        toks.push({ type: 'right', val: '}}', pos: p });
        p += 2;
        break;
      }
      if (c === '|') { toks.push({ type: 'pipe', val: c, pos: p++ }); continue; }
      if (c === '(') { parenDepth++; toks.push({ type: 'lparen', val: c, pos: p++ }); continue; }
      if (c === ')') { if (--parenDepth < 0) fail(p, `unexpected right paren`); toks.push({ type: 'rparen', val: c, pos: p++ }); continue; }
      if (c === ',') { toks.push({ type: 'comma', val: c, pos: p++ }); continue; }
      if (c === ':') { if (src[p + 1] !== '=') fail(p, 'expected :='); toks.push({ type: 'declare', val: ':=', pos: p }); p += 2; continue; }
      if (c === '=') { toks.push({ type: 'assign', val: c, pos: p++ }); continue; }
      if (c === '"') {
        const s = p++;
        while (p < src.length && src[p] !== '"') { if (src[p] === '\\') p++; if (src[p] === '\n') fail(p, 'unterminated quoted string'); p++; }
        if (p >= src.length) fail(s, 'unterminated quoted string');
        toks.push({ type: 'string', val: src.slice(s, ++p), pos: s });
        continue;
      }
      if (c === '`') {
        const end = src.indexOf('`', p + 1);
        if (end < 0) fail(p, 'unterminated raw quoted string');
        toks.push({ type: 'rawstring', val: src.slice(p, end + 1), pos: p });
        p = end + 1;
        continue;
      }
      if (c === "'") {
        const s = p++;
        while (p < src.length && src[p] !== "'") { if (src[p] === '\\') p++; p++; }
        if (p >= src.length) fail(s, 'unterminated character constant');
        toks.push({ type: 'char', val: src.slice(s, ++p), pos: s });
        continue;
      }
      if (c === '$') {
        const s = p++;
        while (isAlnum(src[p])) p++;
        toks.push({ type: 'var', val: src.slice(s, p), pos: s });
        continue;
      }
      if (c === '.') {
        if (/[0-9]/.test(src[p + 1] ?? '')) {
          const m = /^\.[0-9][0-9_]*([eE][+-]?[0-9]+)?/.exec(src.slice(p))!;
          toks.push({ type: 'number', val: m[0], pos: p });
          p += m[0].length;
          continue;
        }
        const s = p++;
        while (isAlnum(src[p])) p++;
        toks.push({ type: p === s + 1 ? 'dot' : 'field', val: src.slice(s, p), pos: s });
        continue;
      }
      if (/[0-9+-]/.test(c)) {
        const m = /^[+-]?(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|[0-9][0-9_]*(\.[0-9_]*)?([eE][+-]?[0-9]+)?|\.[0-9]+([eE][+-]?[0-9]+)?)/.exec(src.slice(p));
        if (!m) fail(p, `bad number syntax: "${c}"`);
        if (isAlnum(src[p + m![0].length])) fail(p, `bad number syntax: "${src.slice(p, p + m![0].length + 1)}"`);
        toks.push({ type: 'number', val: m![0], pos: p });
        p += m![0].length;
        continue;
      }
      if (isAlnum(c)) {
        const s = p;
        while (isAlnum(src[p])) p++;
        const word = src.slice(s, p);
        const type: TokType = KEYWORDS.has(word) ? 'keyword' : word === 'true' || word === 'false' ? 'bool' : word === 'nil' ? 'nil' : 'ident';
        toks.push({ type, val: word, pos: s });
        continue;
      }
      fail(p, `unexpected ${JSON.stringify(c)} in command`);
    }
    i = p;
  }
  toks.push({ type: 'eof', val: '', pos: src.length });
  return toks;
}

export function lineOf(src: string, pos: number): number {
  let n = 1;
  for (let i = 0; i < pos && i < src.length; i++) if (src[i] === '\n') n++;
  return n;
}

function unquote(tok: Tok, fail: (m: string) => never): string {
  if (tok.type === 'rawstring') return tok.val.slice(1, -1).replace(/\r/g, '');
  const body = tok.val.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') { out += c; continue; }
    const e = body[++i];
    const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", a: '\x07', b: '\b', f: '\f', v: '\v' };
    if (e !== undefined && e in simple) { out += simple[e]; continue; }
    const hex = (len: number) => { const h = body.slice(i + 1, i + 1 + len); if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(h)) fail(`invalid syntax`); i += len; return parseInt(h, 16); };
    if (e === 'x') { out += String.fromCharCode(hex(2)); continue; }
    if (e === 'u') { out += String.fromCodePoint(hex(4)); continue; }
    if (e === 'U') { out += String.fromCodePoint(hex(8)); continue; }
    if (e !== undefined && /[0-7]/.test(e)) { const o = body.slice(i, i + 3); i += 2; out += String.fromCharCode(parseInt(o, 8)); continue; }
    fail('invalid syntax');
  }
  return out;
}

function numberValue(text: string): { value: number; isInt: boolean } | undefined {
  const t = text.replace(/_/g, '');
  if (/^[+-]?0[xX]/.test(t)) return { value: parseInt(t.replace(/0[xX]/, ''), 16) * (t.startsWith('-') ? 1 : 1), isInt: true };
  if (/^[+-]?0[bB]/.test(t)) return { value: (t.startsWith('-') ? -1 : 1) * parseInt(t.replace(/^[+-]?0[bB]/, ''), 2), isInt: true };
  if (/^[+-]?0[oO]/.test(t)) return { value: (t.startsWith('-') ? -1 : 1) * parseInt(t.replace(/^[+-]?0[oO]/, ''), 8), isInt: true };
  if (/^[+-]?0[0-7]+$/.test(t)) return { value: parseInt(t, 8), isInt: true };
  const v = Number(t);
  if (Number.isNaN(v)) return undefined;
  return { value: v, isInt: /^[+-]?[0-9]+$/.test(t) };
}

class Parser {
  private i = 0;
  private readonly defines = new Map<string, Node[]>();
  private rangeDepth = 0;
  private vars: string[][] = [['$']];

  constructor(private readonly src: string, private readonly toks: Tok[], private readonly funcs: ReadonlySet<string>) {}

  private fail(msg: string, pos = this.peek().pos): never {
    throw new TemplateError(`template: :${lineOf(this.src, pos)}: ${msg}`);
  }
  private peek(): Tok { return this.toks[this.i]!; }
  private next(): Tok { return this.toks[this.i++]!; }
  private peekNonSpace(): Tok { let j = this.i; while (this.toks[j]!.type === 'space') j++; return this.toks[j]!; }
  private nextNonSpace(): Tok { while (this.peek().type === 'space') this.i++; return this.next(); }

  parse(): Parsed {
    const { list, end } = this.itemList(true);
    if (end) this.fail(`unexpected ${end}`);
    return { root: list, defines: this.defines, source: this.src };
  }

  /** Nodes up to {{end}} / {{else}} (returned as `end`) or EOF (only at top level). */
  private itemList(top: boolean): { list: Node[]; end?: string; endTok?: Tok } {
    const list: Node[] = [];
    for (;;) {
      const tok = this.next();
      if (tok.type === 'eof') {
        if (!top) this.fail('unexpected EOF', tok.pos);
        return { list };
      }
      if (tok.type === 'text') { list.push({ t: 'text', text: tok.val }); continue; }
      // left delimiter
      const kw = this.peekNonSpace();
      if (kw.type === 'keyword') {
        this.nextNonSpace();
        switch (kw.val) {
          case 'end':
            this.expectRight('end');
            if (top) this.fail('unexpected {{end}}', kw.pos);
            return { list, end: '{{end}}', endTok: kw };
          case 'else':
            if (top) this.fail('unexpected {{else}}', kw.pos);
            return { list, end: '{{else}}', endTok: kw };
          case 'if': case 'range': case 'with':
            list.push(this.control(kw.val, kw.pos));
            continue;
          case 'break': case 'continue':
            if (this.rangeDepth === 0) this.fail(`{{${kw.val}}} outside {{range}}`, kw.pos);
            this.expectRight(kw.val);
            list.push({ t: kw.val, pos: kw.pos });
            continue;
          case 'define': {
            if (!top) this.fail('unexpected define in command', kw.pos);
            const name = this.templateName('define clause');
            this.expectRight('define clause');
            const saved = this.vars;
            this.vars = [['$']];
            const body = this.itemList(false);
            this.vars = saved;
            if (body.end !== '{{end}}') this.fail(`unexpected ${body.end} in define clause`, body.endTok?.pos);
            this.defines.set(name, body.list);
            continue;
          }
          case 'template': case 'block': {
            const name = this.templateName(`${kw.val} clause`);
            let pipe: Pipe | undefined;
            if (this.peekNonSpace().type !== 'right') pipe = this.pipeline(`${kw.val} clause`);
            else this.expectRight(`${kw.val} clause`);
            if (kw.val === 'block') {
              const saved = this.vars;
              this.vars = [['$']];
              const body = this.itemList(false);
              this.vars = saved;
              if (body.end !== '{{end}}') this.fail(`unexpected ${body.end} in block clause`, body.endTok?.pos);
              this.defines.set(name, body.list);
            }
            list.push({ t: 'template', pos: kw.pos, name, ...(pipe ? { pipe } : {}) });
            continue;
          }
        }
      }
      const pipe = this.pipeline('command');
      list.push({ t: 'action', pos: pipe.pos, pipe });
    }
  }

  private templateName(ctx: string): string {
    const tok = this.nextNonSpace();
    if (tok.type !== 'string' && tok.type !== 'rawstring') this.fail(`unexpected "${tok.val}" in ${ctx}`, tok.pos);
    return unquote(tok, (m) => this.fail(m, tok.pos));
  }

  private expectRight(ctx: string): void {
    const tok = this.nextNonSpace();
    if (tok.type !== 'right') this.fail(`unexpected ${describe(tok)} in ${ctx}`, tok.pos);
  }

  private control(kind: 'if' | 'range' | 'with', pos: number): Node {
    this.vars.push([]);
    if (kind === 'range') this.rangeDepth++;
    const pipe = this.pipeline(kind);
    if (pipe.cmds.length === 0) this.fail(`missing value for ${kind}`, pos);
    const body = this.itemList(false);
    if (kind === 'range') this.rangeDepth--;
    let elseList: Node[] | undefined;
    if (body.end === '{{else}}') {
      const nxt = this.peekNonSpace();
      if ((kind === 'if' && nxt.type === 'keyword' && nxt.val === 'if') || (kind === 'with' && nxt.type === 'keyword' && nxt.val === 'with')) {
        // {{else if ...}} / {{else with ...}}: a nested control that consumes the shared {{end}}
        this.nextNonSpace();
        this.vars.pop();
        elseList = [this.control(kind, nxt.pos)];
        return { t: kind, pos, pipe, list: body.list, elseList };
      }
      this.expectRight('else');
      const e = this.itemList(false);
      if (e.end !== '{{end}}') this.fail(`expected end; found ${e.end}`, e.endTok?.pos);
      elseList = e.list;
    }
    this.vars.pop();
    return { t: kind, pos, pipe, list: body.list, ...(elseList ? { elseList } : {}) };
  }

  /** A pipeline up to the closing delimiter (or right paren when `inParens`). */
  private pipeline(ctx: string, inParens = false): Pipe {
    const start = this.peekNonSpace().pos;
    const decl: string[] = [];
    let isAssign = false;
    // declarations: $x := / $x = / $i, $v :=
    const save = this.i;
    const v1 = this.nextNonSpace();
    if (v1.type === 'var') {
      const after = this.nextNonSpace();
      if (after.type === 'declare' || after.type === 'assign') {
        decl.push(v1.val);
        isAssign = after.type === 'assign';
      } else if (after.type === 'comma' && ctx === 'range') {
        const v2 = this.nextNonSpace();
        const op = this.nextNonSpace();
        if (v2.type !== 'var' || (op.type !== 'declare' && op.type !== 'assign')) this.fail(`range can only initialize variables`, v2.pos);
        decl.push(v1.val, v2.val);
        isAssign = op.type === 'assign';
      } else this.i = save;
    } else this.i = save;
    if (decl.length > 0) {
      if (isAssign) { for (const d of decl) if (!this.lookupVar(d)) this.fail(`undefined variable "${d}"`, start); }
      else this.vars[this.vars.length - 1]!.push(...decl);
    }
    const cmds: Command[] = [];
    for (;;) {
      const tok = this.peekNonSpace();
      if (tok.type === 'right' && !inParens) { this.nextNonSpace(); break; }
      if (tok.type === 'rparen' && inParens) { this.nextNonSpace(); break; }
      if (tok.type === 'right' || tok.type === 'rparen' || tok.type === 'eof') this.fail(`unexpected ${describe(tok)} in ${ctx}`, tok.pos);
      cmds.push(this.command(inParens));
      const sep = this.peekNonSpace();
      if (sep.type === 'pipe') { this.nextNonSpace(); if (['right', 'rparen'].includes(this.peekNonSpace().type)) this.fail('missing command', sep.pos); continue; }
    }
    if (cmds.length === 0 && (ctx === 'command' || decl.length > 0)) this.fail(`missing value for ${ctx}`, start);
    for (const c of cmds.slice(1)) {
      const a = c.args[0]!;
      if (['bool', 'dot', 'nil', 'number', 'string'].includes(a.t)) this.fail(`non executable command in pipeline stage ${cmds.indexOf(c) + 1}`, a.pos);
    }
    return { pos: start, decl, isAssign, cmds };
  }

  private command(inParens: boolean): Command {
    const args: Arg[] = [];
    const pos = this.peekNonSpace().pos;
    for (;;) {
      while (this.peek().type === 'space') this.i++;
      const tok = this.peek();
      if (tok.type === 'pipe' || tok.type === 'right' || (tok.type === 'rparen' && inParens)) break;
      if (tok.type === 'eof') this.fail('unexpected EOF', tok.pos);
      const arg = this.operand();
      if (!arg) this.fail(`unexpected ${describe(tok)} in operand`, tok.pos);
      args.push(arg!);
      const nxt = this.peek();
      if (nxt.type !== 'space' && nxt.type !== 'pipe' && nxt.type !== 'right' && !(nxt.type === 'rparen' && inParens)) {
        this.fail(`unexpected ${describe(nxt)} in operand`, nxt.pos);
      }
    }
    if (args.length === 0) this.fail('empty command', pos);
    return { pos, args };
  }

  private operand(): Arg | undefined {
    const term = this.term();
    if (!term) return undefined;
    if (this.peek().type === 'field') {
      const names: string[] = [];
      while (this.peek().type === 'field') names.push(this.next().val.slice(1));
      switch (term.t) {
        case 'field': return { ...term, names: [...term.names, ...names] };
        case 'var': return { ...term, names: [...term.names, ...names] };
        case 'bool': case 'string': case 'number': case 'nil': case 'dot':
          this.fail(`unexpected . after term ${JSON.stringify(termText(term))}`, term.pos);
        default: return { t: 'chain', pos: term.pos, node: term, names };
      }
    }
    return term;
  }

  private term(): Arg | undefined {
    const tok = this.next();
    switch (tok.type) {
      case 'ident':
        if (!this.funcs.has(tok.val)) this.fail(`function "${tok.val}" not defined`, tok.pos);
        return { t: 'ident', pos: tok.pos, name: tok.val };
      case 'dot': return { t: 'dot', pos: tok.pos };
      case 'nil': return { t: 'nil', pos: tok.pos };
      case 'var':
        if (!this.lookupVar(tok.val)) this.fail(`undefined variable "${tok.val}"`, tok.pos);
        return { t: 'var', pos: tok.pos, name: tok.val, names: [] };
      case 'field': return { t: 'field', pos: tok.pos, names: [tok.val.slice(1)] };
      case 'bool': return { t: 'bool', pos: tok.pos, value: tok.val === 'true' };
      case 'char': {
        const s = unquote({ ...tok, type: 'string', val: `"${tok.val.slice(1, -1)}"` }, (m) => this.fail(m, tok.pos));
        return { t: 'number', pos: tok.pos, text: tok.val, value: s.codePointAt(0) ?? 0, isInt: true };
      }
      case 'number': {
        const n = numberValue(tok.val);
        if (!n) this.fail(`illegal number syntax: "${tok.val}"`, tok.pos);
        return { t: 'number', pos: tok.pos, text: tok.val, ...n! };
      }
      case 'string': case 'rawstring':
        return { t: 'string', pos: tok.pos, text: tok.val, value: unquote(tok, (m) => this.fail(m, tok.pos)) };
      case 'lparen': {
        const pipe = this.pipeline('parenthesized pipeline', true);
        return { t: 'pipe', pos: tok.pos, pipe };
      }
      default:
        this.i--;
        return undefined;
    }
  }

  private lookupVar(name: string): boolean {
    return this.vars.some((scope) => scope.includes(name));
  }
}

function describe(tok: Tok): string {
  if (tok.type === 'eof') return 'EOF';
  if (tok.type === 'right') return '"}}"';
  if (tok.type === 'space') return 'space';
  return `"${tok.val}"`;
}

function termText(a: Arg): string {
  switch (a.t) {
    case 'string': return a.text;
    case 'number': return a.text;
    case 'bool': return String(a.value);
    case 'nil': return 'nil';
    case 'dot': return '.';
    default: return '';
  }
}

/** The text of an argument as Go prints a node in errors ("at <.Spec.Name>"). */
export function argText(a: Arg): string {
  switch (a.t) {
    case 'field': return a.names.map((n) => `.${n}`).join('');
    case 'var': return a.name + a.names.map((n) => `.${n}`).join('');
    case 'ident': return a.name;
    case 'pipe': return `(${pipeText(a.pipe)})`;
    case 'chain': return argText(a.node) + a.names.map((n) => `.${n}`).join('');
    default: return termText(a);
  }
}

export function pipeText(p: Pipe): string {
  const decl = p.decl.length > 0 ? `${p.decl.join(', ')} ${p.isAssign ? '=' : ':='} ` : '';
  return decl + p.cmds.map((c) => c.args.map(argText).join(' ')).join(' | ');
}

/** Parses a Go template; throws TemplateError with Go's message on bad syntax. */
export function parseTemplate(source: string, funcs: ReadonlySet<string>): Parsed {
  const toks = lex(source);
  return new Parser(source, toks, funcs).parse();
}
