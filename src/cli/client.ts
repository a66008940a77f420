// The CLI's client for the agent API on its unix socket. Turns connection failures into messages that
// say what is wrong and what to do, and API errors into ApiClientError carrying the agent's message.
import http from 'node:http';
import { defaults } from '../config/defaults.js';
import { formatHost } from '../config/host.js';

export class ApiClientError extends Error {
  override readonly name = 'ApiClientError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface ApiResult<T> {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: T;
}

export class ApiClient {
  constructor(readonly socketPath: string) {}

  async request<T = unknown>(method: string, path: string, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<ApiResult<T>> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const res = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }>((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          method,
          path: `/v${defaults.apiVersion}${path}`,
          headers: { ...extraHeaders, ...(payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) }) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('error', (err) => reject(this.connectionError(err as NodeJS.ErrnoException)));
      req.end(payload);
    });
    const parsed = parseBody(res.text, res.headers['content-type']);
    if (res.status >= 400) {
      const message = typeof parsed === 'object' && parsed !== null && 'message' in parsed ? String((parsed as { message: unknown }).message) : res.text.trim();
      throw new ApiClientError(`Error response from agent: ${message}`, res.status);
    }
    return { status: res.status, headers: res.headers, body: parsed as T };
  }

  /** A GET whose body is consumed as it arrives (logs -f); resolves when the agent ends it. */
  stream(path: string, onChunk: (chunk: Buffer) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: this.socketPath, method: 'GET', path: `/v${defaults.apiVersion}${path}` }, (res) => {
        if ((res.statusCode ?? 0) >= 400) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const parsed = parseBody(text, res.headers['content-type']);
            const message = typeof parsed === 'object' && parsed !== null && 'message' in parsed ? String((parsed as { message: unknown }).message) : text.trim();
            reject(new ApiClientError(`Error response from agent: ${message}`, res.statusCode));
          });
          return;
        }
        res.on('data', onChunk);
        res.on('end', () => resolve());
        res.on('error', reject);
      });
      req.on('error', (err) => reject(this.connectionError(err as NodeJS.ErrnoException)));
      req.end();
    });
  }

  get<T = unknown>(path: string): Promise<ApiResult<T>> {
    return this.request<T>('GET', path);
  }

  private connectionError(err: NodeJS.ErrnoException): ApiClientError {
    const host = formatHost(this.socketPath);
    switch (err.code) {
      case 'ENOENT':
      case 'ECONNREFUSED':
        return new ApiClientError(`Cannot connect to the shoal agent at ${host}. Is the agent running? Start it with \`shoal agent\`, or point -H / SHOAL_HOST at its socket.`);
      case 'EACCES':
      case 'EPERM':
        return new ApiClientError(`Permission denied while trying to connect to the shoal agent socket at ${host}: run the command as root (the socket is root's, mode 0660).`);
      default:
        return new ApiClientError(`Cannot talk to the shoal agent at ${host}: ${err.message}`);
    }
  }
}

function parseBody(text: string, contentType: string | undefined): unknown {
  if (contentType?.startsWith('application/json')) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}
