// Join tokens in Docker's format, `SWMTKN-1-<CA digest>-<secret>`: the digest lets a joining node
// check it reached the right cluster (the SHA-256 of the cluster's root CA certificate, base 36, 50
// characters); the secret (128 random bits, base 36, 25 characters) proves to the manager that the
// joiner was given the token. Worker and manager tokens differ only in their secret.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { base36 } from './ids.js';

export const TOKEN_PREFIX = 'SWMTKN';
export const TOKEN_VERSION = '1';
const DIGEST_LEN = 50;
const SECRET_LEN = 25;

export interface ParsedToken {
  /** base-36 SHA-256 of the root CA certificate (DER). */
  caDigest: string;
  secret: string;
}

export class TokenError extends Error {
  override readonly name = 'TokenError';
}

export function caDigest(caCertDer: Uint8Array): string {
  return base36(createHash('sha256').update(caCertDer).digest(), DIGEST_LEN);
}

export function newSecret(): string {
  return base36(randomBytes(16), SECRET_LEN);
}

export function formatToken(caDigestValue: string, secret: string): string {
  return `${TOKEN_PREFIX}-${TOKEN_VERSION}-${caDigestValue}-${secret}`;
}

export function parseToken(token: string): ParsedToken {
  const parts = token.trim().split('-');
  if (parts.length !== 4 || parts[0] !== TOKEN_PREFIX) {
    throw new TokenError('invalid join token: it must look like SWMTKN-1-<50 characters>-<25 characters>; print a valid one with `shoal swarm join-token worker` on a manager');
  }
  const [, version, digest, secret] = parts as [string, string, string, string];
  if (version !== TOKEN_VERSION) throw new TokenError(`unsupported join token version ${version}: this node understands version ${TOKEN_VERSION}`);
  if (!/^[0-9a-z]+$/.test(digest) || digest.length !== DIGEST_LEN) throw new TokenError(`invalid join token: the CA digest must be ${DIGEST_LEN} base-36 characters`);
  if (!/^[0-9a-z]+$/.test(secret) || secret.length !== SECRET_LEN) throw new TokenError(`invalid join token: the secret must be ${SECRET_LEN} base-36 characters`);
  return { caDigest: digest, secret };
}

/** Constant-time comparison of two secrets. */
export function secretsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
