// Who wrote a gossiped entry, proven: this node signs its entries of signed tables with its node
// key (the one its certificate from the cluster CA certifies), and checks others' against the
// certificate each node publishes in its status (accepted only if the cluster CA signed it, its CN
// is that node's ID and it is in date; after a node renews its certificate, the one it published
// before still counts while in date, for the entries it signed with its old key until it has signed
// them again). Ownership is the caller's rule (ownerOf): the node the key
// belongs to, as the cluster's own records say, never as the entry says.
import { createPrivateKey, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';
import type { Entry } from '../store/entry.js';
import { signedBytes, type EntrySigner, type EntryVerifier, type Refusal } from '../store/signing.js';

export interface NodeSignaturesOptions {
  /** This node's private key (PEM). */
  keyPem: string;
  /** The cluster's root CA certificate (PEM). */
  caCertPem: string;
  /** The certificate a node published (PEM), if this node has seen it. */
  certOf(nodeId: string): string | undefined;
  /** The node that may write this key (current: what this node holds for it), or undefined if none may yet. */
  ownerOf(entry: Entry, current: Entry | undefined): string | undefined;
  now?: () => number;
}

export class NodeSignatures implements EntrySigner, EntryVerifier {
  private key: KeyObject;
  private readonly ca: X509Certificate;
  /** Checked certificates by node ID, with the PEM they came from, and the one it published before. */
  private readonly certs = new Map<string, { pem: string; cert: X509Certificate | undefined; previous?: X509Certificate | undefined }>();

  constructor(private readonly o: NodeSignaturesOptions) {
    this.key = createPrivateKey(o.keyPem);
    this.ca = new X509Certificate(o.caCertPem);
  }

  /** This node's renewed key: what it signs from now on. */
  useKey(keyPem: string): void {
    this.key = createPrivateKey(keyPem);
  }

  sign(entry: Entry): string {
    return sign('sha256', signedBytes(entry), this.key).toString('base64');
  }

  check(entry: Entry, current: Entry | undefined): Refusal | undefined {
    if (entry.sig === undefined) return 'unsigned';
    const signer = entry.version.node;
    const certs = this.certificates(signer);
    if (certs.length === 0) return 'unknown signer';
    const bytes = signedBytes(entry);
    const sig = Buffer.from(entry.sig, 'base64');
    if (!certs.some((c) => verify('sha256', bytes, c.publicKey, sig))) return 'bad signature';
    const owner = this.o.ownerOf(entry, current);
    if (owner === undefined) return 'owner not known yet';
    if (owner !== signer) return 'not the owner';
    return undefined;
  }

  /** The node's certificates that may have signed: the one it publishes (if the cluster CA signed it for
   * that node ID) and the one it published before, each only while in date. */
  private certificates(nodeId: string): X509Certificate[] {
    const pem = this.o.certOf(nodeId);
    if (!pem) return [];
    let known = this.certs.get(nodeId);
    if (!known || known.pem !== pem) {
      const cert = this.trusted(nodeId, pem);
      known = { pem, cert, previous: known?.cert ?? known?.previous };
      this.certs.set(nodeId, known);
    }
    const now = (this.o.now ?? Date.now)();
    const inDate = (c: X509Certificate | undefined): c is X509Certificate => c !== undefined && Date.parse(c.validFrom) <= now && now <= Date.parse(c.validTo);
    return [known.cert, known.previous].filter(inDate);
  }

  private trusted(nodeId: string, pem: string): X509Certificate | undefined {
    try {
      const cert = new X509Certificate(pem);
      if (!cert.verify(this.ca.publicKey)) return undefined;
      const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
      return cn === nodeId ? cert : undefined;
    } catch {
      return undefined;
    }
  }
}
