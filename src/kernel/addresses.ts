// IP addresses on the links of one namespace: add, delete and list, given and returned as CIDR
// strings like '10.0.1.1/24' (IPv4 and IPv6).
import { FlagsNew, type rt } from 'netlink';
import { afOf, decodeIp, encodeIp, familyOfAf, formatCidr, parseCidr, type IpFamily } from './encoding.js';
import type { LinkRef, RtnlSocket } from './rtnl-socket.js';

export interface Address {
  /** Name of the link the address is on. */
  dev: string;
  index: number;
  family: IpFamily;
  address: string;
  prefixLen: number;
  /** address/prefixLen, e.g. '10.0.1.1/24'. */
  cidr: string;
}

export class Addresses {
  constructor(private readonly rtnl: RtnlSocket) {}

  /** Adds cidr (e.g. '10.0.1.1/24') to dev. EEXIST when dev already has it. */
  add(dev: LinkRef, cidr: string): Promise<void> {
    const op = `add address ${cidr} on ${dev}`;
    return this.rtnl.operation(op, async () => {
      const { data, attrs } = await this.message(dev, cidr, op);
      await this.rtnl.request(op, (s, o) => s.newAddress(data, attrs, { ...o, flags: FlagsNew.CREATE | FlagsNew.EXCL }));
    });
  }

  /** Removes cidr from dev. EADDRNOTAVAIL when dev does not have it. */
  delete(dev: LinkRef, cidr: string): Promise<void> {
    const op = `delete address ${cidr} on ${dev}`;
    return this.rtnl.operation(op, async () => {
      const { data, attrs } = await this.message(dev, cidr, op);
      await this.rtnl.request(op, (s, o) => s.delAddress(data, attrs, o));
    });
  }

  /** Addresses of dev, or of every link when dev is not given. */
  list(dev?: LinkRef): Promise<Address[]> {
    const op = dev === undefined ? 'list addresses' : `list addresses on ${dev}`;
    return this.rtnl.operation(op, async () => {
      const index = dev === undefined ? undefined : await this.rtnl.ifindex(dev, op);
      const msgs = await this.rtnl.dump(op, (s, o) => s.getAddresses({}, {}, o));
      const names = await this.rtnl.linkNames();
      return msgs.filter((m) => index === undefined || m.data.index === index).flatMap((m) => toAddress(m, names));
    });
  }

  private async message(dev: LinkRef, cidr: string, op: string): Promise<{ data: rt.Address; attrs: rt.AddressAttrs }> {
    const c = parseCidr(cidr);
    const index = await this.rtnl.ifindex(dev, op);
    const bytes = encodeIp(c.address);
    return { data: { family: afOf(c.family), prefixlen: c.prefixLen, index }, attrs: { local: bytes, address: bytes } };
  }
}

function toAddress(m: rt.AddressMessage, names: ReadonlyMap<number, string>): Address[] {
  const family = familyOfAf(m.data.family ?? 0);
  // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point links (and the only one for IPv6).
  const bytes = m.attrs.local ?? m.attrs.address;
  if (family === undefined || !bytes) return [];
  const index = m.data.index ?? 0;
  const address = decodeIp(bytes);
  const prefixLen = m.data.prefixlen ?? 0;
  return [{ dev: names.get(index) ?? `if${index}`, index, family, address, prefixLen, cidr: formatCidr({ address, prefixLen }) }];
}
