// Go values for templates: JSON data paired with the Go type Docker's CLI would hold it as, so that
// field access, truthiness and printing follow Go (a struct prints as `{a b}`, a map as `map[k:v]`, a
// time as `2024-01-02 03:04:05.5 +0000 UTC`, a time.Duration as `1m30s`). Data without a known type is
// `interface{}` decoded from JSON, as Docker's raw-inspect fallback sees it.

export type GoType =
  | { kind: 'string' | 'bool' | 'int' | 'float' | 'number' | 'time' | 'duration' | 'bytes' | 'any' | 'nil'; name?: string }
  | { kind: 'struct'; name: string; fields: Field[]; rowContext?: boolean }
  | { kind: 'slice'; elem: GoType; name?: string }
  | { kind: 'map'; elem: GoType; name?: string }
  | { kind: 'ptr'; elem: GoType }
  | { kind: 'func'; name: string; params: ParamKind[]; result: GoType; fn: (...args: Val[]) => unknown };

export type ParamKind = 'string' | 'int' | 'any';

export interface Field { name: string; json?: string; type: GoType; embedded?: boolean }

/** A value and its Go type. `v` is the JSON-shaped data (undefined/null for nil). */
export interface Val { type: GoType; v: unknown }

export const T = {
  string: { kind: 'string' } as GoType,
  bool: { kind: 'bool' } as GoType,
  int: { kind: 'int' } as GoType,
  float: { kind: 'float' } as GoType,
  time: { kind: 'time' } as GoType,
  duration: { kind: 'duration' } as GoType,
  bytes: { kind: 'bytes' } as GoType,
  any: { kind: 'any' } as GoType,
  nil: { kind: 'nil' } as GoType,
  slice: (elem: GoType): GoType => ({ kind: 'slice', elem }),
  map: (elem: GoType): GoType => ({ kind: 'map', elem }),
  ptr: (elem: GoType): GoType => ({ kind: 'ptr', elem }),
  struct: (name: string, fields: [string, GoType, { json?: string; embedded?: boolean }?][]): GoType =>
    ({ kind: 'struct', name, fields: fields.map(([n, t, o]) => ({ name: n, type: t, ...(o ?? {}) })) }),
};

export const val = (type: GoType, v: unknown): Val => ({ type, v });
export const str = (s: string): Val => val(T.string, s);

/** The dynamic value behind an interface{} (JSON decoded with UseNumber, as Docker's fallback does). */
export function concrete(x: Val): Val {
  if (x.type.kind !== 'any') return x;
  const v = x.v;
  if (v === null || v === undefined) return val(T.nil, null);
  if (typeof v === 'string') return val(T.string, v);
  if (typeof v === 'boolean') return val(T.bool, v);
  if (typeof v === 'number') return val({ kind: 'number', name: 'json.Number' }, v);
  if (Array.isArray(v)) return val({ kind: 'slice', elem: T.any, name: '[]interface {}' }, v);
  return val({ kind: 'map', elem: T.any, name: 'map[string]interface {}' }, v);
}

/** Follows pointers (nil stays a nil pointer). */
export function indirect(x: Val): Val {
  let c = concrete(x);
  while (c.type.kind === 'ptr' && c.v !== null && c.v !== undefined) c = concrete(val(c.type.elem, c.v));
  return c;
}

export function isNil(x: Val): boolean {
  const c = concrete(x);
  return c.type.kind === 'nil' || ((c.type.kind === 'ptr' || c.type.kind === 'slice' || c.type.kind === 'map' || c.type.kind === 'func') && (c.v === null || c.v === undefined));
}

export function typeName(t: GoType): string {
  switch (t.kind) {
    case 'struct': return t.name;
    case 'slice': return t.name ?? `[]${typeName(t.elem)}`;
    case 'map': return t.name ?? `map[string]${typeName(t.elem)}`;
    case 'ptr': return `*${typeName(t.elem)}`;
    case 'func': return `func`;
    case 'any': return 'interface {}';
    case 'nil': return '<nil>';
    case 'int': return t.name ?? 'int';
    case 'float': return t.name ?? 'float64';
    case 'number': return 'json.Number';
    case 'time': return 'time.Time';
    case 'duration': return 'time.Duration';
    case 'bytes': return '[]uint8';
    default: return t.name ?? t.kind;
  }
}

/** Go's template truth: false, 0, nil, and empty strings, slices and maps are false; structs are true. */
export function truth(x: Val): boolean {
  const c = concrete(x);
  const v = c.v;
  switch (c.type.kind) {
    case 'nil': return false;
    case 'string': return typeof v === 'string' && v.length > 0;
    case 'bool': return v === true;
    case 'int': case 'float': case 'number': case 'duration': return typeof v === 'number' && v !== 0;
    case 'slice': return Array.isArray(v) && v.length > 0;
    case 'bytes': return typeof v === 'string' && v.length > 0;
    case 'map': return typeof v === 'object' && v !== null && Object.keys(v).length > 0;
    case 'ptr': case 'func': return v !== null && v !== undefined;
    default: return true;
  }
}

export function structField(t: GoType & { kind: 'struct' }, data: unknown, name: string): Val | undefined {
  const obj = (data ?? {}) as Record<string, unknown>;
  for (const f of t.fields) {
    if (f.name === name) return f.embedded ? val(f.type, obj) : val(f.type, f.type.kind === 'func' ? f.type : obj[f.json ?? f.name]);
  }
  for (const f of t.fields) {
    if (f.embedded && f.type.kind === 'struct') {
      const got = structField(f.type, obj, name);
      if (got) return got;
    }
  }
  return undefined;
}

/** Every element of a slice (a nil slice has none). */
export function elems(x: Val): Val[] {
  const c = concrete(x);
  if (c.type.kind !== 'slice' || !Array.isArray(c.v)) return [];
  const et = c.type.elem;
  return c.v.map((e) => val(et, e));
}

/** A map's entries in Go's printing order: sorted keys. */
export function mapEntries(x: Val): [string, Val][] {
  const c = concrete(x);
  if (c.type.kind !== 'map' || typeof c.v !== 'object' || c.v === null) return [];
  const et = c.type.elem;
  return Object.keys(c.v).sort().map((k) => [k, val(et, (c.v as Record<string, unknown>)[k])]);
}

/** fmt.Sprint of one value (`%v`). Pointers below the top print as &{...}: there is no address to show. */
export function sprint(x: Val, depth = 0): string {
  const c = concrete(x);
  const v = c.v;
  switch (c.type.kind) {
    case 'nil': return '<nil>';
    case 'string': return typeof v === 'string' ? v : '';
    case 'bool': return v === true ? 'true' : 'false';
    case 'int': case 'number': return typeof v === 'number' ? String(v) : '0';
    case 'float': return goFloat(typeof v === 'number' ? v : 0);
    case 'time': return typeof v === 'string' ? goTime(v) : '0001-01-01 00:00:00 +0000 UTC';
    case 'duration': return goDuration(typeof v === 'number' ? v : 0);
    case 'bytes': return `[${[...Buffer.from(typeof v === 'string' ? v : '', 'base64')].join(' ')}]`;
    case 'slice': return `[${elems(c).map((e) => sprint(e, depth + 1)).join(' ')}]`;
    case 'map': return `map[${mapEntries(c).map(([k, e]) => `${k}:${sprint(e, depth + 1)}`).join(' ')}]`;
    case 'ptr': return v === null || v === undefined ? '<nil>' : `&${sprint(val(c.type.elem, v), depth + 1)}`;
    case 'func': return '0x0';
    case 'struct': {
      const t = c.type;
      return `{${t.fields.filter((f) => f.type.kind !== 'func').map((f) => sprint(structField(t, v, f.name)!, depth + 1)).join(' ')}}`;
    }
    default: return String(v);
  }
}

/** strconv.FormatFloat(f, 'g', -1, 64), which %v uses. */
export function goFloat(f: number): string {
  if (Number.isNaN(f)) return 'NaN';
  if (!Number.isFinite(f)) return f > 0 ? '+Inf' : '-Inf';
  if (f === 0) return Object.is(f, -0) ? '-0' : '0';
  const exp = Number(Math.abs(f).toExponential().split('e')[1]);
  // shortest precision: %e when the exponent is below -4 or at least 6 (fmt.Println(1e6) prints 1e+06)
  if (exp < -4 || exp >= 6) {
    const [m, e] = f.toExponential().split('e');
    const n = Number(e);
    return `${m}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  return String(f);
}

/** time.Time.String() for an RFC 3339 timestamp, in UTC. */
export function goTime(iso: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(iso);
  if (!m) return iso;
  if (m[4] !== 'Z') {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    return goTime(d.toISOString().replace(/\.\d+Z$/, `${(m[3] ?? '').slice(0, 10)}Z`));
  }
  const frac = (m[3] ?? '').replace(/0+$/, '');
  return `${m[1]} ${m[2]}${frac === '.' ? '' : frac} +0000 UTC`;
}

/** time.Duration.String() for nanoseconds. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let n = Math.abs(ns);
  let out: string;
  if (n < 1e3) out = `${n}ns`;
  else if (n < 1e6) out = `${trimZeros(n / 1e3)}µs`;
  else if (n < 1e9) out = `${trimZeros(n / 1e6)}ms`;
  else {
    const h = Math.floor(n / 3600e9);
    n -= h * 3600e9;
    const m = Math.floor(n / 60e9);
    n -= m * 60e9;
    const s = `${trimZeros(n / 1e9)}s`;
    out = h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s;
  }
  return neg ? `-${out}` : out;
}

function trimZeros(x: number): string {
  return x.toFixed(9).replace(/\.?0+$/, '');
}

/** JSON as Go's encoder writes it with HTML escaping off (U+2028/2029 still escaped). */
export function goJson(x: Val): string {
  return JSON.stringify(toJsonData(x) ?? null).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function toJsonData(x: Val): unknown {
  const c = concrete(x);
  if (c.type.kind === 'struct' && c.type.rowContext) {
    // Docker's row contexts marshal every argument-less method into a map: sorted keys.
    const t = c.type;
    const out: Record<string, unknown> = {};
    for (const f of [...t.fields].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (f.type.kind !== 'func') out[f.name] = toJsonData(structField(t, c.v, f.name)!);
    }
    return out;
  }
  if (c.type.kind === 'slice' && c.v === undefined) return null;
  if (c.type.kind === 'map' && c.type.elem.kind !== 'any' && c.v && typeof c.v === 'object') {
    // Go sorts map keys when marshalling.
    return Object.fromEntries(Object.keys(c.v).sort().map((k) => [k, (c.v as Record<string, unknown>)[k]]));
  }
  if (c.type.kind === 'nil') return null;
  return c.v ?? (c.type.kind === 'string' ? '' : c.type.kind === 'bool' ? false : c.type.kind === 'int' ? 0 : null);
}
