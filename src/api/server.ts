// The agent's HTTP API on a unix socket, speaking the Docker Engine API's shapes: version prefix,
// JSON bodies, `{"message"}` errors. It owns the socket file: refuses to start over a live agent,
// replaces a stale socket, and removes the file when it stops.
import { drainedOrClosed } from '../util/backpressure.js';
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import { dirname } from 'node:path';
import { defaults } from '../config/defaults.js';
import type { Logger } from '../util/log.js';
import { ApiError, type ApiRequest, type ApiResponse } from './http.js';
import { StateError, type StateErrorReason } from '../store/state.js';
import { compareVersions, splitVersion, type Router } from './router.js';

const MAX_BODY_BYTES = 4 * 1024 * 1024;

export class ApiServer {
  private readonly server: http.Server;

  constructor(
    private readonly router: Router,
    private readonly log: Logger,
    private readonly commonHeaders: () => Record<string, string>,
  ) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  async listen(socketPath: string): Promise<void> {
    mkdirSync(dirname(socketPath), { recursive: true, mode: 0o755 });
    if (existsSync(socketPath)) {
      if (await socketAnswers(socketPath)) {
        throw new Error(`another agent is already serving ${socketPath}; stop it first or choose another socket with -H unix:///path`);
      }
      unlinkSync(socketPath); // left by an agent that did not exit cleanly
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(socketPath, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    chmodSync(socketPath, 0o660);
  }

  async close(): Promise<void> {
    const address = this.server.address();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    if (typeof address === 'string' && existsSync(address)) unlinkSync(address);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const url = new URL(req.url ?? '/', 'http://shoal');
    const { version, path } = splitVersion(url.pathname);
    let response: ApiResponse;
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    try {
      checkVersion(version);
      const match = this.router.match(req.method ?? 'GET', path);
      const apiReq: ApiRequest = {
        method: req.method ?? 'GET',
        path,
        version,
        params: match.params,
        query: url.searchParams,
        headers: req.headers,
        body: await readJsonBody(req),
        signal: abort.signal,
      };
      response = await match.handler(apiReq);
    } catch (err) {
      response = errorResponse(err, this.log);
    }
    if (response.stream) await this.stream(res, response, abort.signal);
    else this.send(req, res, response);
    this.log.debug({ method: req.method, path: url.pathname, status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'api request');
  }

  /** Writes a streamed body as it comes, honouring backpressure; a failure mid-stream ends the connection. */
  private async stream(res: ServerResponse, response: ApiResponse, signal: AbortSignal): Promise<void> {
    res.writeHead(response.status ?? 200, { ...this.commonHeaders(), 'Content-Type': 'application/vnd.docker.raw-stream', ...response.headers });
    try {
      for await (const chunk of response.stream!) {
        if (signal.aborted) break;
        if (!res.write(chunk) && !(await drainedOrClosed(res))) break; // the client went away
      }
      res.end();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'streamed response failed');
      res.destroy();
    }
  }

  private send(req: IncomingMessage, res: ServerResponse, response: ApiResponse): void {
    const headers: Record<string, string> = { ...this.commonHeaders(), ...response.headers };
    let payload: string | undefined;
    if (typeof response.body === 'string') {
      payload = response.body;
      headers['Content-Type'] ??= 'text/plain; charset=utf-8';
    } else if (response.body !== undefined) {
      payload = JSON.stringify(response.body) + '\n';
      headers['Content-Type'] ??= 'application/json';
    }
    if (payload !== undefined) headers['Content-Length'] = String(Buffer.byteLength(payload));
    res.writeHead(response.status ?? 200, headers);
    res.end(req.method === 'HEAD' ? undefined : payload);
  }
}

function checkVersion(version: string | undefined): void {
  if (version === undefined) return;
  if (compareVersions(version, defaults.apiVersion) > 0) {
    throw new ApiError(400, `client version ${version} is too new. Maximum supported API version is ${defaults.apiVersion}`);
  }
  if (compareVersions(version, defaults.minApiVersion) < 0) {
    throw new ApiError(400, `client version ${version} is too old. Minimum supported API version is ${defaults.minApiVersion}, please upgrade your client to a newer version`);
  }
}

/** The status a failed write of the cluster's state answers with (Docker answers a lost quorum with 503 too). */
const STATE_ERROR_STATUS: Record<Exclude<StateErrorReason, 'invalid'>, number> = { conflict: 409, 'no-leader': 503, denied: 403, unavailable: 503 };

function errorResponse(err: unknown, log: Logger): ApiResponse {
  if (err instanceof ApiError) return { status: err.status, body: { message: err.message } };
  if (err instanceof StateError && err.reason !== 'invalid') return { status: STATE_ERROR_STATUS[err.reason], body: { message: err.message } };
  log.error({ err }, 'api handler failed');
  return { status: 500, body: { message: (err as Error)?.message ?? String(err) } };
}

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, `request body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, `invalid JSON in request body: ${(err as Error).message}`);
  }
}

/** True when something accepts connections on the socket (a live agent), false for a stale file. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}
