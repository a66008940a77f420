// writeFileDurably: the whole new content or the whole old one, with the asked mode, and no
// temporary file left behind, also when the write fails.
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { writeFileDurably } from '../../src/util/durable-file.js';

t.test('writes, replaces, keeps the mode, leaves no temporary file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-durable-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'state.json');
  writeFileDurably(path, '{"a":1}', 0o600);
  t.equal(readFileSync(path, 'utf8'), '{"a":1}');
  t.equal(statSync(path).mode & 0o777, 0o600, 'mode 0600');
  writeFileSync(path + '.other', 'x');
  writeFileDurably(path, '{"a":2}', 0o644);
  t.equal(readFileSync(path, 'utf8'), '{"a":2}', 'replaced');
  t.equal(statSync(path).mode & 0o777, 0o644, 'with the new mode');
  writeFileDurably(path, Buffer.alloc(3 * 1024 * 1024, 7));
  t.equal(statSync(path).size, 3 * 1024 * 1024, 'a large content is written whole');
  t.same(readdirSync(dir).sort(), ['state.json', 'state.json.other'], 'no temporary file left');
});

t.test('a write that cannot happen leaves the old file as it was', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-durable-'));
  t.teardown(() => { chmodSync(dir, 0o700); rmSync(dir, { recursive: true, force: true }); });
  const path = join(dir, 'ca.crt');
  writeFileDurably(path, 'old', 0o644);
  t.throws(() => writeFileDurably(join(dir, 'missing', 'x'), 'new'), { code: 'ENOENT' }, 'a missing directory is an error');
  t.equal(readFileSync(path, 'utf8'), 'old', 'the existing file is untouched');
  t.same(readdirSync(dir), ['ca.crt'], 'and nothing else was left');
});
