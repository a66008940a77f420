// The cluster's gossip keyring over time. The desired keys live in the replicated cluster settings;
// every node applies them to its live Keyring (memberlist reads that object for every packet, so a
// rotation needs no restart) and reports the fingerprints it holds; the leader moves a rotation on,
// install the new key everywhere -> encrypt with it everywhere -> drop the old one, only when every
// alive node has confirmed the step before. So no node ever receives a packet it cannot decrypt.
// Pure functions: Swarm does the reading, writing and timing.
import { createHash } from 'node:crypto';
import type { Keyring } from './wire/security.js';

export type { GossipKeyring, KeyringReport } from '../model/cluster.js';
import type { GossipKeyring, KeyringReport } from '../model/cluster.js';

/** A key's public name: the first 12 hex digits of its SHA-256. */
export function fingerprint(keyB64: string): string {
  return createHash('sha256').update(Buffer.from(keyB64, 'base64')).digest('hex').slice(0, 12);
}

export function initialKeyring(key: string, now: string): GossipKeyring {
  return { keys: [key], primary: key, rotatedAt: now };
}

/** Keys in the order a node keeps them locally and hands to joiners: primary first. */
export function primaryFirst(k: GossipKeyring): string[] {
  return [k.primary, ...k.keys.filter((x) => x !== k.primary)];
}

/** Makes the live keyring hold exactly the desired keys with the desired primary; true if anything changed. */
export function applyKeyring(live: Keyring, desired: GossipKeyring): boolean {
  const before = reportOf(live);
  for (const k of desired.keys) live.add(Buffer.from(k, 'base64'));
  live.add(Buffer.from(desired.primary, 'base64'));
  live.use(Buffer.from(desired.primary, 'base64'));
  const wanted = new Set([...desired.keys, desired.primary].map(fingerprint));
  for (const k of live.list()) {
    if (!wanted.has(fingerprint(k.toString('base64')))) live.remove(k);
  }
  const after = reportOf(live);
  return before.primary !== after.primary || before.keys.join() !== after.keys.join();
}

export function reportOf(live: Keyring): KeyringReport {
  const keys = live.list().map((k) => fingerprint(k.toString('base64')));
  return { keys, primary: keys[0] ?? '' };
}

export class RotationError extends Error {
  override readonly name = 'RotationError';
}

/** The first step of a rotation to newKey: every node installs it, all still encrypt with the old one. */
export function startRotation(k: GossipKeyring, newKey: string, now: string): GossipKeyring {
  if (k.rotation) throw new RotationError(`a gossip key rotation is already under way (since ${k.rotation.since}, waiting for every node to ${k.rotation.phase === 'install' ? 'install' : 'use'} the new key); try again when it has finished`);
  if (k.keys.includes(newKey)) throw new RotationError('the new gossip key is already in the keyring');
  return { ...k, keys: [...k.keys, newKey], rotation: { key: newKey, phase: 'install', since: now } };
}

/**
 * The next desired keyring once every alive node has confirmed the current step, else undefined.
 * install -> use: all hold the new key, so all can decrypt it before anyone sends with it.
 * use -> done: all encrypt with it, so nobody sends with the old key any more.
 */
export function nextRotationStep(k: GossipKeyring, alive: readonly KeyringReport[], now: string): GossipKeyring | undefined {
  if (!k.rotation) return undefined;
  const fp = fingerprint(k.rotation.key);
  if (k.rotation.phase === 'install') {
    if (!alive.every((r) => r.keys.includes(fp))) return undefined;
    return { ...k, primary: k.rotation.key, rotation: { ...k.rotation, phase: 'use' } };
  }
  if (!alive.every((r) => r.primary === fp)) return undefined;
  return { keys: [k.rotation.key], primary: k.rotation.key, rotatedAt: now };
}
