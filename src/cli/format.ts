// `--format` as Docker's CLI applies it: listings run the template once per row object (`table` adds a
// header row from the column titles and aligns with tabwriter; `json` is `{{json .}}`; `raw` is Docker's
// key: value form; -q is `{{.ID}}`), inspect runs it once per object (typed first, then on the raw JSON
// as Docker's fallback does). Template errors are Docker's `template parsing error: ...`.
import { dockerFuncs, execute, ExecError, headerFuncs, knownFunctions } from './template/exec.js';
import { parseTemplate, TemplateError, type Parsed } from './template/parse.js';
import { T, val, type GoType, type Val } from './template/values.js';
import { tabwrite } from './tabwriter.js';

/** An error the CLI prints as it is (no "Error: " prefix), exiting with `exitCode`, as Docker's StatusError. */
export class StatusError extends Error {
  override readonly name = 'StatusError';
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

export interface ListFormats {
  /** Docker's default table format for the listing. */
  table: string;
  /** Docker's `--format raw` (and its quiet form). */
  raw: string;
  rawQuiet: string;
}

/** Docker's NewListFormat: the format string a listing runs, from --format and -q. */
export function listFormat(source: string | undefined, quiet: boolean, f: ListFormats): string {
  const s = source === undefined || source === '' ? 'table' : source;
  if (s === 'table') return quiet ? '{{.ID}}' : f.table;
  if (s === 'raw') return quiet ? f.rawQuiet : f.raw;
  return s;
}

const isTable = (format: string) => format.startsWith('table');

/** Docker's Format.templateString: strips `table`, maps `json`, trims spaces, turns \t and \n into tabs and newlines. */
export function templateString(format: string): string {
  if (format === 'table') return '';
  if (format === 'json') return '{{json .}}';
  let out = isTable(format) ? format.slice('table'.length) : format;
  out = out.replace(/^ +| +$/g, '');
  return out.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
}

export function compile(source: string): Parsed {
  try {
    return parseTemplate(source, knownFunctions);
  } catch (err) {
    if (err instanceof TemplateError) throw new StatusError(`template parsing error: ${err.message}`);
    throw err;
  }
}

/** The text a listing prints (each row ends with a newline; a table starts with its header). */
export function renderList(format: string, rows: Val[], headers: Record<string, string>): string {
  const tmpl = compile(templateString(format));
  let body = '';
  for (const row of rows) {
    try {
      body += execute(tmpl, row, { funcs: dockerFuncs }) + '\n';
    } catch (err) {
      if (err instanceof TemplateError) throw new StatusError(`template parsing error: ${err.message}`);
      throw err;
    }
  }
  if (!isTable(format)) return body;
  let header: string;
  try {
    header = execute(tmpl, val(T.map(T.string), headers), { funcs: headerFuncs });
  } catch (err) {
    // Docker ignores a header that fails to render: what was written before the failure stays.
    if (!(err instanceof ExecError)) throw err;
    header = err.partial;
  }
  return tabwrite(`${header}\n${body}`);
}

/** Prints `text` through an out() that adds a newline itself; nothing at all for empty output. */
export function emit(out: (s: string) => void, text: string): void {
  if (text === '') return;
  out(text.endsWith('\n') ? text.slice(0, -1) : text);
}

/** `inspect --format`: '' is indented JSON, `json` compact JSON, anything else a template per object. */
export function renderInspect(format: string | undefined, items: unknown[], type: GoType): { text: string; errors: string[] } {
  if (format === undefined || format === '') return { text: JSON.stringify(items, null, 4) + '\n', errors: [] };
  if (format === 'json') return { text: JSON.stringify(items) + '\n', errors: [] };
  let tmpl: Parsed;
  try {
    tmpl = parseTemplate(format, knownFunctions);
  } catch (err) {
    if (err instanceof TemplateError) throw new StatusError(`template parsing error: ${err.message}`, 64);
    throw err;
  }
  let text = '';
  const errors: string[] = [];
  for (const item of items) {
    try {
      text += execute(tmpl, val(type, item)) + '\n';
    } catch (err) {
      if (!(err instanceof TemplateError)) throw err;
      // Docker retries on the raw JSON (map[string]interface{}) with missingkey=error.
      try {
        text += execute(tmpl, val(T.any, item), { missingKey: 'error' }) + '\n';
      } catch (err2) {
        if (!(err2 instanceof TemplateError)) throw err2;
        errors.push(`template parsing error: ${err2.message}`);
      }
    }
  }
  return { text: text === '' ? '\n' : text, errors };
}

/** Runs renderInspect and prints; lookup errors and template errors end the command with exit 1 after printing. */
export function printInspect(out: (s: string) => void, format: string | undefined, items: unknown[], type: GoType, lookupErrors: string[] = []): void {
  const { text, errors } = renderInspect(format, items, type);
  out(text.slice(0, -1));
  const all = [...lookupErrors, ...errors];
  if (all.length > 0) throw new StatusError(all.join('\n'));
}

/** --filter key=value flags as a filters map (values of one key are alternatives), refusing unknown keys. */
export function filterFlags(list: string[] | undefined, allowed: string[]): Record<string, string[]> {
  const filters: Record<string, string[]> = {};
  for (const f of list ?? []) {
    const i = f.indexOf('=');
    const k = i > 0 ? f.slice(0, i) : '';
    if (!k || !allowed.includes(k)) throw new Error(`invalid --filter '${f}': use ${allowed.map((a) => `${a}=...`).join(', ')}`);
    (filters[k] ??= []).push(f.slice(i + 1));
  }
  return filters;
}

/** Docker's label filter: every `key` or `key=value` given must match (no filter matches everything). */
export function labelsMatch(labels: Record<string, string> | undefined, wanted: string[] | undefined): boolean {
  return (wanted ?? []).every((w) => {
    const i = w.indexOf('=');
    const [k, v] = i < 0 ? [w, undefined] : [w.slice(0, i), w.slice(i + 1)];
    return labels !== undefined && Object.prototype.hasOwnProperty.call(labels, k) && (v === undefined || labels[k] === v);
  });
}
