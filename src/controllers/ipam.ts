// IPv4 address management: CIDR arithmetic, subnets carved from the cluster's pool (handed out in
// order, the lowest free one first, as Docker does), and addresses inside a subnet handed out
// serially after a cursor, so a released address is reused as late as possible. Pure: the leader's
// allocator decides what is in use from the tables and asks here for the next free one.

export class IpamError extends Error {
  override readonly name = 'IpamError';
}

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new IpamError(`'${ip}' is not an IPv4 address`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new IpamError(`'${ip}' is not an IPv4 address`);
    n = n * 256 + Number(p);
  }
  return n;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface Cidr {
  /** Network address as an integer. */
  base: number;
  prefix: number;
  /** Number of addresses in it. */
  size: number;
}

/** Parses a.b.c.d/n; the address must be the network's own (10.0.1.0/24, not 10.0.1.5/24) unless loose. */
export function parseCidr(text: string, loose = false): Cidr {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(text.trim());
  if (!m) throw new IpamError(`'${text}' is not an IPv4 CIDR like 10.0.9.0/24`);
  const prefix = Number(m[2]);
  if (prefix > 32) throw new IpamError(`'${text}': a prefix length is 0 to 32`);
  const size = 2 ** (32 - prefix);
  const addr = ipToInt(m[1]!);
  const base = addr - (addr % size);
  if (!loose && base !== addr) throw new IpamError(`'${text}' is not a network address: did you mean ${intToIp(base)}/${prefix}?`);
  return { base, prefix, size };
}

export function formatCidr(c: Cidr): string {
  return `${intToIp(c.base)}/${c.prefix}`;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size;
}

export function contains(c: Cidr, ip: string): boolean {
  const n = ipToInt(ip);
  return n >= c.base && n < c.base + c.size;
}

/** The subnet's usable host addresses (network and broadcast excluded, for prefixes up to /30). */
function hostRange(c: Cidr): { first: number; last: number } {
  return c.prefix >= 31 ? { first: c.base, last: c.base + c.size - 1 } : { first: c.base + 1, last: c.base + c.size - 2 };
}

/** The gateway Docker picks when none is given: the first host address. */
export function defaultGateway(c: Cidr): string {
  return intToIp(hostRange(c).first);
}

/**
 * The lowest subnet of `size` bits in the pools that overlaps none of `taken`.
 * Throws when the pools are exhausted.
 */
export function nextSubnet(pools: readonly string[], size: number, taken: readonly Cidr[]): Cidr {
  const sorted = [...taken].sort((a, b) => a.base - b.base);
  for (const poolText of pools) {
    const pool = parseCidr(poolText);
    if (size < pool.prefix) continue;
    const step = 2 ** (32 - size);
    let candidate = pool.base;
    while (candidate + step <= pool.base + pool.size) {
      const c: Cidr = { base: candidate, prefix: size, size: step };
      const clash = sorted.find((t) => overlaps(t, c));
      if (!clash) return c;
      // Jump past the clash, keeping alignment.
      const end = clash.base + clash.size;
      candidate = Math.max(candidate + step, Math.ceil(end / step) * step);
    }
  }
  throw new IpamError(`the address pool (${pools.join(', ')}) has no free /${size} subnet left: remove unused networks, or give --subnet explicitly`);
}

/**
 * Hands out addresses of one subnet, the next free one after the cursor each time (wrapping), so
 * an address that was just released is the last to be reused.
 */
export class AddressAllocator {
  private readonly used = new Set<number>();
  private cursor: number;
  private readonly first: number;
  private readonly last: number;

  constructor(readonly subnet: Cidr, inUse: Iterable<string> = [], cursor?: string) {
    ({ first: this.first, last: this.last } = hostRange(subnet));
    for (const ip of inUse) this.reserve(ip);
    this.cursor = cursor !== undefined ? ipToInt(cursor) : this.highestUsed();
  }

  /** Marks an address taken (an address outside the subnet is ignored). */
  reserve(ip: string): void {
    const n = ipToInt(ip);
    if (n >= this.first && n <= this.last) this.used.add(n);
  }

  isUsed(ip: string): boolean {
    return this.used.has(ipToInt(ip));
  }

  get free(): number {
    return this.last - this.first + 1 - this.used.size;
  }

  /** The next free address, as "a.b.c.d"; throws when the subnet is full. */
  allocate(): string {
    const span = this.last - this.first + 1;
    for (let i = 1; i <= span; i++) {
      const n = this.first + ((this.cursor - this.first + i) % span + span) % span;
      if (!this.used.has(n)) {
        this.used.add(n);
        this.cursor = n;
        return intToIp(n);
      }
    }
    throw new IpamError(`no free address left in ${formatCidr(this.subnet)} (${span} addresses, all in use): use a bigger subnet or fewer tasks on this network`);
  }

  /** The cursor to carry to the next allocator of this subnet. */
  get position(): string {
    return intToIp(this.cursor);
  }

  private highestUsed(): number {
    let max = this.first - 1;
    for (const n of this.used) if (n > max) max = n;
    return max;
  }
}
