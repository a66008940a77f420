// The records the server answers from: one zone per network, kept in a ZoneSet that the controller
// replaces zone by zone. A zone is plain data the controller builds; set() keeps a reference and does
// no per-record work, so it is cheap to call on every cluster change. Readers ask by network ID or by
// network name; listeners of a change learn which network changed (to drop cached answers).

export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  /** A name without a trailing dot, e.g. `web.1.abc` or `db`. */
  target: string;
}

export interface RecordSet {
  /** IPv4 addresses, dotted quad. Duplicates are answered once. */
  a: string[];
  srv?: SrvRecord[];
  /** Answer the A records in a new random order on every query (tasks.*, dnsrr services). */
  shuffle?: boolean;
}

export interface Zone {
  /** Network ID: what views list. */
  id: string;
  /** Network name: what `<name>.<network>` queries use. */
  name: string;
  /** Lowercase name without a trailing dot -> records. */
  names: Map<string, RecordSet>;
  /** IPv4 address -> the name PTR queries answer (without a trailing dot). */
  ptr: Map<string, string>;
}

export type ZoneChangeListener = (networkId: string) => void;

/**
 * All zones known to the server. The server treats a zone handed to set() as immutable until the next
 * set() of the same network: build a new zone (or mutate the old one) and call set() again.
 */
export class ZoneSet {
  private readonly byId = new Map<string, Zone>();
  private readonly listeners = new Set<ZoneChangeListener>();

  set(zone: Zone): void {
    this.byId.set(zone.id, zone);
    this.changed(zone.id);
  }

  delete(networkId: string): boolean {
    const had = this.byId.delete(networkId);
    if (had) this.changed(networkId);
    return had;
  }

  get(networkId: string): Zone | undefined {
    return this.byId.get(networkId);
  }

  get size(): number {
    return this.byId.size;
  }

  ids(): IterableIterator<string> {
    return this.byId.keys();
  }

  /** Called with the network ID after every set() and effective delete(). */
  onChange(fn: ZoneChangeListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(networkId: string): void {
    for (const fn of this.listeners) fn(networkId);
  }
}
