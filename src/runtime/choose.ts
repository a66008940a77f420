// Picks the task runtime for a node: 'docker' when asked for (and the engine must answer), 'exec'
// when asked for, and for 'auto' Docker when its socket answers a quick /_ping, else exec.
import { request } from 'node:http';
import type { Logger } from '../util/log.js';
import { DOCKER_SOCKET, DockerRuntime } from './docker.js';
import { ExecRuntime } from './exec.js';
import { RuntimeError, type Runtime } from './runtime.js';

export type RuntimeChoice = 'auto' | 'docker' | 'exec';

export interface ChooseRuntimeOptions {
  kind: RuntimeChoice;
  dataDir: string;
  nodeId: string;
  log: Logger;
  /** The Docker Engine's socket; /var/run/docker.sock unless given. */
  dockerSocket?: string;
  /** How long the /_ping may take; 1000 ms unless given (a local engine answers in a few). */
  pingTimeoutMs?: number;
}

export const PING_TIMEOUT_MS = 1000;

/** Resolves with undefined when the engine answers /_ping with OK, else with why not. */
export function pingDocker(socketPath: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(res.statusCode === 200 && body.trim() === 'OK' ? undefined : `/_ping answered ${res.statusCode} ${body.trim().slice(0, 80)}`));
      res.on('error', (err) => resolve(err.message));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to /_ping within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve((err as NodeJS.ErrnoException).code ?? err.message));
    req.end();
  });
}

export async function chooseRuntime(options: ChooseRuntimeOptions): Promise<Runtime> {
  const { kind, dataDir, nodeId, log } = options;
  const socketPath = options.dockerSocket ?? DOCKER_SOCKET;
  if (kind === 'exec') return new ExecRuntime({ dataDir, nodeId, log });
  if (kind !== 'docker' && kind !== 'auto') {
    throw new RuntimeError(`unknown runtime '${String(kind)}'; use auto, docker or exec`, 'INVALID');
  }
  const why = await pingDocker(socketPath, options.pingTimeoutMs ?? PING_TIMEOUT_MS);
  if (why === undefined) {
    log.info({ runtime: 'docker', socket: socketPath }, 'task runtime: docker');
    return new DockerRuntime({ dataDir, nodeId, log, socketPath });
  }
  if (kind === 'docker') {
    throw new RuntimeError(
      `the docker runtime was asked for, but the Docker Engine does not answer on ${socketPath} (${why}); start it (scripts/docker-engine) or choose the exec or auto runtime`,
      'UNAVAILABLE',
    );
  }
  log.info({ runtime: 'exec', socket: socketPath, docker: why }, 'task runtime: exec (no Docker Engine answers)');
  return new ExecRuntime({ dataDir, nodeId, log });
}
