// The cluster-wide settings (the `cluster` table, key 'settings'): identity, the CA's digest, the
// address pool networks are carved from, and the desired gossip keyring (whose rotation steps
// src/cluster/gossip-keys.ts computes); every node reads them. And the managers' secrets (the
// `join` table, key 'secrets'): the join tokens' secrets and the CA's key, which only managers read.

/** The desired gossip keyring: what every node should hold. */
export interface GossipKeyring {
  /** Base64 keys; every one is accepted for decryption. */
  keys: string[];
  /** The key every node encrypts with. */
  primary: string;
  /** A rotation under way: the new key and the step it has reached. */
  rotation?: { key: string; phase: 'install' | 'use'; since: string };
  /** When the last rotation finished (or the cluster was created). */
  rotatedAt: string;
}

/** What a node reports it holds (its `node-status` entry): fingerprints, never keys. */
export interface KeyringReport {
  keys: string[];
  primary: string;
}

export const SETTINGS_KEY = 'settings';

export interface ClusterSettings {
  id: string;
  createdAt: string;
  caDigest: string;
  defaultAddrPool: string[];
  subnetSize: number;
  /** The desired gossip keyring (gossip-keys.ts). */
  gossip: GossipKeyring;
  /** How long node certificates are issued for (`--cert-expiry`; Docker's Spec.CAConfig.NodeCertExpiry),
   * in milliseconds; absent in clusters made before it existed: DEFAULT_NODE_CERT_EXPIRY_MS. */
  nodeCertExpiryMs?: number;
}

/** Docker's default --cert-expiry, 2160h0m0s (90 days), in milliseconds. */
export const DEFAULT_NODE_CERT_EXPIRY_MS = 2160 * 3600_000;
/** swarmkit's ca.MinNodeCertExpiration (1h0m0s): a shorter --cert-expiry is refused. */
export const MIN_NODE_CERT_EXPIRY_MS = 3600_000;
/** swarmkit's refusal, as the Docker CLI shows it. */
export const MIN_CERT_EXPIRY_MESSAGE = 'rpc error: code = InvalidArgument desc = minimum certificate expiry time is: 1h0m0s';

/** The validity node certificates are issued with now. */
export function nodeCertExpiryOf(s: ClusterSettings | undefined): number {
  return s?.nodeCertExpiryMs ?? DEFAULT_NODE_CERT_EXPIRY_MS;
}

export function parseSettings(v: unknown): ClusterSettings {
  const s = v as Partial<ClusterSettings>;
  if (typeof s?.id !== 'string' || typeof s.caDigest !== 'string') throw new Error('cluster settings need id and CA digest');
  const g = s.gossip as Partial<GossipKeyring> | undefined;
  if (s.nodeCertExpiryMs !== undefined && (!Number.isSafeInteger(s.nodeCertExpiryMs) || s.nodeCertExpiryMs < MIN_NODE_CERT_EXPIRY_MS)) throw new Error('cluster settings: the node certificate expiry must be a whole number of milliseconds, at least an hour');
  if (!g || !Array.isArray(g.keys) || g.keys.length === 0 || g.keys.some((k) => typeof k !== 'string') || typeof g.primary !== 'string' || !g.keys.includes(g.primary)) throw new Error('cluster settings need a gossip keyring whose primary is one of its keys');
  return s as ClusterSettings;
}

export const SECRETS_KEY = 'secrets';

/** What only managers may read: the join tokens' secrets and the CA (certificate and key), so that
 * every manager can admit nodes and sign certificates. */
export interface JoinSecrets {
  workerSecret: string;
  managerSecret: string;
  caCertPem: string;
  caKeyPem: string;
}

export function parseJoinSecrets(v: unknown): JoinSecrets {
  const s = v as Partial<JoinSecrets>;
  for (const k of ['workerSecret', 'managerSecret', 'caCertPem', 'caKeyPem'] as const) {
    if (typeof s?.[k] !== 'string' || s[k] === '') throw new Error(`the join secrets need ${k}`);
  }
  return s as JoinSecrets;
}
