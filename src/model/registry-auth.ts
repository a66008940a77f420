// Registry credentials as the Docker Engine API carries them: the X-Registry-Auth header, a base64url
// JSON AuthConfig. The API checks the header before it stores it with a service (never returned by
// any read); the node that runs a task hands it, unchanged, to its engine's image pull.

/** The header Docker's clients send with service create/update (and image pulls). */
export const REGISTRY_AUTH_HEADER = 'x-registry-auth';

/** Docker's AuthConfig, the JSON inside the header. Every field is optional. */
export interface RegistryAuth {
  username?: string;
  password?: string;
  /** base64("username:password"), as config.json stores it. */
  auth?: string;
  email?: string;
  serveraddress?: string;
  identitytoken?: string;
  registrytoken?: string;
}

const FIELDS: readonly (keyof RegistryAuth)[] = ['username', 'password', 'auth', 'email', 'serveraddress', 'identitytoken', 'registrytoken'];

export class RegistryAuthError extends Error {
  override readonly name = 'RegistryAuthError';
}

/** As Docker's EncodeAuthToBase64: JSON, base64 with the URL alphabet (padded). Empty fields are left out. */
export function encodeRegistryAuth(auth: RegistryAuth): string {
  const clean = Object.fromEntries(FIELDS.filter((k) => auth[k]).map((k) => [k, auth[k]]));
  return Buffer.from(JSON.stringify(clean), 'utf8').toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/**
 * Reads a header value: base64 (URL or standard alphabet, padded or not) of a JSON object whose
 * fields are AuthConfig's, each a string. Throws RegistryAuthError naming what is wrong.
 */
export function decodeRegistryAuth(encoded: string): RegistryAuth {
  const text = encoded.trim();
  if (text === '') throw new RegistryAuthError('invalid X-Registry-Auth header: it is empty');
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) throw new RegistryAuthError('invalid X-Registry-Auth header: it is not base64 (Docker sends base64url-encoded JSON)');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
  } catch {
    throw new RegistryAuthError('invalid X-Registry-Auth header: its base64 does not hold JSON (Docker sends base64url-encoded JSON like {"username":"...","password":"..."})');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RegistryAuthError('invalid X-Registry-Auth header: it must hold a JSON object');
  const out: RegistryAuth = {};
  for (const [k, v] of Object.entries(value)) {
    const key = k.toLowerCase() as keyof RegistryAuth;
    if (!FIELDS.includes(key)) throw new RegistryAuthError(`invalid X-Registry-Auth header: unknown field ${JSON.stringify(k)} (Docker's AuthConfig has ${FIELDS.join(', ')})`);
    if (typeof v !== 'string') throw new RegistryAuthError(`invalid X-Registry-Auth header: ${k} must be a string`);
    if (v !== '') out[key] = v;
  }
  return out;
}
