// Builds the native addon (native/src/netns.cc) with node-gyp during `npm install`.
// It checks the toolchain first so that a missing compiler or missing Node.js headers produce a
// message that says which Debian package to install, rather than a wall of gyp output.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function fail(message) {
  console.error(`\nshoal: cannot build the native addon: ${message}\n`);
  process.exit(1);
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

const missing = [['g++', 'g++'], ['make', 'make'], ['python3', 'python3']].filter(([cmd]) => !have(cmd));
if (missing.length > 0) {
  fail(`${missing.map(([cmd]) => cmd).join(', ')} not found. Install the toolchain with:\n    apt-get install -y build-essential python3`);
}

// Build against the headers of the Node.js that runs us, never downloading them.
const prefix = dirname(dirname(process.execPath));
const nodedir = [prefix, '/usr', '/usr/local'].find((p) => existsSync(join(p, 'include', 'node', 'node_api.h')));
if (!nodedir) {
  fail(`no Node.js headers (include/node/node_api.h) under ${prefix}, /usr or /usr/local. On Debian install them with:\n    apt-get install -y libnode-dev`);
}

const gypCandidates = [
  process.env.npm_config_node_gyp,
  join(here, '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].filter(Boolean);
const gyp = gypCandidates.find((p) => existsSync(p));
if (!gyp) fail('node-gyp not found (it ships with npm); run the build through `npm install`.');

const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`], { cwd: here, stdio: 'inherit' });
if (r.status !== 0) fail(`node-gyp exited with status ${r.status}; see the compiler output above.`);
