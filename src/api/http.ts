// The API's request/response types and the Docker-shaped error: `{"message": "..."}` with a status code.
import type { IncomingHttpHeaders } from 'node:http';

export interface ApiRequest {
  method: string;
  /** Path without the optional /v1.NN prefix. */
  path: string;
  /** API version from the path prefix, or undefined when the client sent none. */
  version: string | undefined;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body, or undefined when there was none. */
  body: unknown;
  /** Aborted when the client goes away (for streaming responses such as logs -f). */
  signal: AbortSignal;
}

export interface ApiResponse {
  status?: number;
  headers?: Record<string, string>;
  /** An object is sent as JSON; a string as text/plain; undefined sends no body. */
  body?: unknown;
  /** A body streamed chunk by chunk as it is produced (instead of body); the response ends with it. */
  stream?: AsyncIterable<Uint8Array>;
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export type Handler = (req: ApiRequest) => ApiResponse | Promise<ApiResponse>;
