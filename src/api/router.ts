// Maps "METHOD /path/{param}" to handlers and strips Docker's optional /v1.NN version prefix.
import { ApiError, type Handler } from './http.js';

interface Route {
  method: string;
  parts: string[];
  handler: Handler;
}

export interface Match {
  handler: Handler;
  params: Record<string, string>;
}

export class Router {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler): this {
    this.routes.push({ method, parts: split(pattern), handler });
    return this;
  }

  /** The handler for method+path, or an ApiError: 404 for an unknown path, 405 for a known path with another method. */
  match(method: string, path: string): Match {
    const parts = split(path);
    let pathKnown = false;
    for (const route of this.routes) {
      const params = matchParts(route.parts, parts);
      if (params === undefined) continue;
      pathKnown = true;
      if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { handler: route.handler, params };
    }
    if (pathKnown) throw new ApiError(405, `method ${method} not allowed on ${path}`);
    throw new ApiError(404, 'page not found');
  }
}

function split(path: string): string[] {
  return path.split('/').filter((p) => p !== '');
}

function matchParts(pattern: string[], parts: string[]): Record<string, string> | undefined {
  if (pattern.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const v = parts[i]!;
    if (p.startsWith('{') && p.endsWith('}')) params[p.slice(1, -1)] = decodeURIComponent(v);
    else if (p !== v) return undefined;
  }
  return params;
}

/** Splits "/v1.41/_ping" into version "1.41" and path "/_ping"; a path without prefix has no version. */
export function splitVersion(path: string): { version: string | undefined; path: string } {
  const m = /^\/v(\d+\.\d+)(\/.*)?$/.exec(path);
  if (!m) return { version: undefined, path };
  return { version: m[1], path: m[2] ?? '/' };
}

export function compareVersions(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am !== bm ? am - bm : an - bn;
}
