// Where the project's own files are at run time, whether running from src/ (tests) or dist/.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findProjectRoot(start: string): string {
  let dir = start;
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'shoal') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find shoal's package.json above ${start}`);
    dir = up;
  }
}

export const projectRoot = findProjectRoot(dirname(fileURLToPath(import.meta.url)));

export const packageVersion = (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version;
