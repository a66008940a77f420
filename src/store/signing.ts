// Signed entries: for tables whose entries belong to one node (the endpoints a node plumbed), the
// writer signs each entry it makes, and a receiver keeps an entry only if it is signed by the node
// named in its version (the writer) and that node owns the key. Holding the gossip key lets a node
// speak in the pool; it does not let it change what another node owns. What is signed is the entry's
// table, key, deletion flag, version and value, as JSON in that order (a JSON value read from the
// wire and written again is the same text, so sender and receiver sign and check the same bytes).
import type { Entry } from './entry.js';

/** The bytes a signature covers. */
export function signedBytes(e: Entry): Buffer {
  return Buffer.from(JSON.stringify([e.table, e.key, e.deleted, e.version.wall, e.version.counter, e.version.node, e.deleted ? null : e.value]));
}

/** Signs this node's own writes. */
export interface EntrySigner {
  /** A signature (base64) over signedBytes(entry). */
  sign(entry: Entry): string;
}

/** Why a signed entry was refused, or undefined if it is good. */
export type Refusal = 'unsigned' | 'unknown signer' | 'bad signature' | 'not the owner' | 'owner not known yet';

/** Refusals that can be an honest race (the signer's certificate or the key's owner has not reached this node yet): anti-entropy brings the entry again. */
export const PERHAPS_EARLY: ReadonlySet<Refusal> = new Set(['unknown signer', 'owner not known yet']);

/** Checks entries from other nodes before they are merged. */
export interface EntryVerifier {
  /** current: what this node holds for the key, if anything (a tombstone must come from its owner). */
  check(entry: Entry, current: Entry | undefined): Refusal | undefined;
}
