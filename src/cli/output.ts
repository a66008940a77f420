// How the CLI prints: Docker-style key/value blocks, `--format json`, and errors as "Error: ...".
export type OutputFormat = 'text' | 'json';

export function parseFormat(value: string | undefined): OutputFormat {
  if (value === undefined || value === '' || value === 'text' || value === 'pretty') return 'text';
  if (value === 'json' || value === '{{json .}}') return 'json';
  throw new Error(`unsupported --format '${value}': use json`);
}

/** A block like `docker version`'s: a title line, then indented "Key:   value" lines aligned in one column. */
export function keyValueBlock(title: string, rows: [string, string][], indent = ' ', width = 19): string {
  const lines = rows.map(([k, v]) => `${indent}${(k + ':').padEnd(width)}${v}`);
  return [title, ...lines].join('\n');
}
