// Runs the whole suite with tap and ends with a plain "N passed, N failed" line, which any CI reads.
// Exit status is tap's: non-zero when a test fails or the leak check finds leftovers.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const tapBin = join(dirname(require.resolve('tap/package.json')), 'dist', 'esm', 'run.mjs');
const child = spawn(process.execPath, [tapBin, '--reporter=tap', ...process.argv.slice(2)], { stdio: ['ignore', 'pipe', 'inherit'] });

// tap's last line of the form "# { total: 21, pass: 20, fail: 1 }" sums every assertion of the run.
let summary = { pass: 0, fail: 0 };
let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail += chunk.toString();
  const lines = tail.split('\n');
  tail = lines.pop() ?? '';
  for (const line of lines) {
    const m = /^# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?/.exec(line);
    if (m) summary = { pass: Number(m[2] ?? 0), fail: Number(m[3] ?? 0) };
  }
});
child.on('exit', (code, signal) => {
  const status = code ?? (signal ? 1 : 0);
  // A failure tap does not count as an assertion (the leak check's exit, a crash) still counts as one.
  const fail = status !== 0 && summary.fail === 0 ? 1 : summary.fail;
  console.log(`\n${summary.pass} passed, ${fail} failed`);
  process.exit(status);
});
