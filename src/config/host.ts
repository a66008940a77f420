// Parses the -H / SHOAL_HOST address of an agent's API. Only unix sockets: the API is root's, on the node.
import { defaults } from './defaults.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Accepts `unix:///path/to.sock` or a plain absolute path; returns the socket path. */
export function parseHost(host: string | undefined): string {
  if (host === undefined || host === '') return defaults.apiSocket;
  if (host.startsWith('unix://')) {
    const path = host.slice('unix://'.length);
    if (!path.startsWith('/')) throw new ConfigError(`host '${host}' must name an absolute socket path, like unix:///run/shoal/shoal.sock`);
    return path;
  }
  if (host.startsWith('/')) return host;
  throw new ConfigError(`host '${host}' is not supported: use unix:///path/to/shoal.sock (the API is served only on a unix socket)`);
}

export function formatHost(socketPath: string): string {
  return `unix://${socketPath}`;
}
