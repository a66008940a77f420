// A real image registry for tests: Debian's docker-registry (the distribution registry) on a free
// loopback port, which the Docker Engine treats as insecure (plain http) without any change to its
// config; optionally with htpasswd basic auth. Images are pushed into it from the engine's own
// busybox and then untagged, so the engine holds them only under their other name and a task must
// pull. The process, its storage and the tags are removed on teardown.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';

export interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

export interface TestRegistry {
  /** 127.0.0.1:PORT */
  addr: string;
  /** A docker client config dir logged in to this registry (when it has auth). */
  dockerConfig: string;
  /** Tags a local image as ADDR/REPO:latest, pushes it, and removes that tag from the engine again. Returns the reference. */
  push(localImage: string, repo: string): string;
  /** Removes ADDR/REPO:latest from the engine (after a task pulled it). */
  untag(ref: string): void;
}

export function registryMissing(): string | false {
  return spawnSync('docker-registry', ['--version']).error ? 'docker-registry is not installed (scripts/setup installs it)' : false;
}

/** bcrypt, the only hash the registry's htpasswd accepts, from Python's crypt (libxcrypt). */
function bcrypt(password: string): string {
  return execFileSync('python3', ['-W', 'ignore', '-c', 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))', password], { encoding: 'utf8' }).trim();
}

export async function startRegistry(t: Teardown, auth?: { user: string; password: string }): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-registry-'));
  const refs = new Set<string>();
  t.teardown(() => {
    for (const ref of refs) spawnSync('docker', ['rmi', '-f', ref], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  });
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const config = [
    'version: 0.1',
    'log: {level: error}',
    `storage: {filesystem: {rootdirectory: ${join(dir, 'data')}}}`,
    `http: {addr: "${addr}", secret: shoal-test}`,
    ...(auth ? [`auth: {htpasswd: {realm: shoal-test, path: ${join(dir, 'htpasswd')}}}`] : []),
  ].join('\n');
  writeFileSync(join(dir, 'config.yml'), `${config}\n`);
  if (auth) writeFileSync(join(dir, 'htpasswd'), `${auth.user}:${bcrypt(auth.password)}\n`);
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
  const exited = once(child, 'exit').catch(() => undefined);
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  for (let i = 0; ; i++) {
    const status = await fetch(`http://${addr}/v2/`).then((r) => r.status, () => 0);
    if (status === 200 || status === 401) break;
    if (child.exitCode !== null || i > 100) throw new Error(`docker-registry did not answer on ${addr}: ${stderr.trim()}`);
    await sleep(50);
  }
  const dockerConfig = join(dir, 'docker-config');
  if (auth) execFileSync('docker', ['--config', dockerConfig, 'login', '-u', auth.user, '--password-stdin', addr], { input: auth.password, stdio: ['pipe', 'ignore', 'pipe'] });
  return {
    addr,
    dockerConfig,
    push(localImage, repo) {
      const ref = `${addr}/${repo}:latest`;
      refs.add(ref);
      execFileSync('docker', ['tag', localImage, ref]);
      execFileSync('docker', ['--config', dockerConfig, 'push', ref], { stdio: 'ignore' });
      execFileSync('docker', ['rmi', ref], { stdio: 'ignore' });
      return ref;
    },
    untag(ref) {
      spawnSync('docker', ['rmi', ref], { stdio: 'ignore' });
    },
  };
}
