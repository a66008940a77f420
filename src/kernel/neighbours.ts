// IP neighbour (ARP / NDP) entries of one namespace: permanent entries added, replaced and deleted
// per link, and listed. These are what a VXLAN device with 'proxy' answers ARP from.
import { FlagsNew, type rt } from 'netlink';
import { AF_INET, AF_INET6, decodeIp, decodeMac, encodeIp, encodeMac, familyOfAf, type IpFamily } from './encoding.js';
import type { LinkRef, RtnlSocket } from './rtnl-socket.js';

/** NUD states as iproute2 names them (lower case). */
export type NeighbourState = 'incomplete' | 'reachable' | 'stale' | 'delay' | 'probe' | 'failed' | 'noarp' | 'permanent' | 'none';

export interface Neighbour {
  dev: string;
  family: IpFamily;
  ip: string;
  /** Missing while the entry is unresolved. */
  mac: string | undefined;
  state: NeighbourState;
}

const STATES: readonly Exclude<NeighbourState, 'none'>[] = ['permanent', 'noarp', 'reachable', 'stale', 'delay', 'probe', 'failed', 'incomplete'];

export class Neighbours {
  constructor(private readonly rtnl: RtnlSocket) {}

  /** A permanent entry ip -> mac on dev. EEXIST when dev already has an entry for ip. */
  add(dev: LinkRef, ip: string, mac: string): Promise<void> {
    return this.write('add', dev, ip, mac, FlagsNew.CREATE | FlagsNew.EXCL);
  }

  /** A permanent entry ip -> mac on dev, replacing whatever entry ip had. */
  replace(dev: LinkRef, ip: string, mac: string): Promise<void> {
    return this.write('replace', dev, ip, mac, FlagsNew.CREATE | FlagsNew.REPLACE);
  }

  /** ENOENT when dev has no entry for ip. */
  delete(dev: LinkRef, ip: string): Promise<void> {
    const op = `delete neighbour ${ip} on ${dev}`;
    return this.rtnl.operation(op, async () => {
      const { data, attrs } = await this.message(dev, ip, op);
      await this.rtnl.request(op, (s, o) => s.delNeighbor(data, attrs, o));
    });
  }

  /** Entries on dev, or on every link when dev is not given. */
  list(dev?: LinkRef): Promise<Neighbour[]> {
    const op = dev === undefined ? 'list neighbours' : `list neighbours on ${dev}`;
    return this.rtnl.operation(op, async () => {
      const index = dev === undefined ? undefined : await this.rtnl.ifindex(dev, op);
      const msgs = await this.rtnl.dump(op, (s, o) => s.getNeighbors({}, {}, o));
      const names = await this.rtnl.linkNames();
      return msgs.filter((m) => index === undefined || m.data.ifindex === index).flatMap((m) => toNeighbour(m, names));
    });
  }

  private write(verb: string, dev: LinkRef, ip: string, mac: string, flags: number): Promise<void> {
    const op = `${verb} neighbour ${ip} lladdr ${mac} on ${dev}`;
    return this.rtnl.operation(op, async () => {
      const lladdr = encodeMac(mac);
      const { data, attrs } = await this.message(dev, ip, op);
      await this.rtnl.request(op, (s, o) => s.newNeighbor({ ...data, state: { permanent: true } }, { ...attrs, lladdr }, { ...o, flags }));
    });
  }

  private async message(dev: LinkRef, ip: string, op: string): Promise<{ data: rt.Neighbor; attrs: rt.NeighborAttrs }> {
    const dst = encodeIp(ip);
    const ifindex = await this.rtnl.ifindex(dev, op);
    return { data: { family: dst.length === 4 ? AF_INET : AF_INET6, ifindex }, attrs: { dst } };
  }
}

export function neighbourState(state: rt.NeighborState | undefined): NeighbourState {
  return STATES.find((s) => state?.[s] === true) ?? 'none';
}

function toNeighbour(m: rt.NeighborMessage, names: ReadonlyMap<number, string>): Neighbour[] {
  const family = familyOfAf(m.data.family ?? 0);
  if (family === undefined || !m.attrs.dst) return [];
  const index = m.data.ifindex ?? 0;
  return [{
    dev: names.get(index) ?? `if${index}`,
    family,
    ip: decodeIp(m.attrs.dst),
    mac: m.attrs.lladdr && m.attrs.lladdr.length === 6 ? decodeMac(m.attrs.lladdr) : undefined,
    state: neighbourState(m.data.state),
  }];
}
