// Bridge forwarding database entries (AF_BRIDGE neighbours) of one namespace, as `bridge fdb` sees
// them: on a VXLAN device ('self') they say which remote VTEP a MAC lives behind, and all-zero
// entries appended once per remote give head-end replication of broadcast traffic; on a bridge
// port ('master') they are the bridge's static entries. Entries are always permanent.
import { endianness } from 'node:os';
import { FlagsNew, type rt } from 'netlink';
import { AF_BRIDGE, decodeIp, decodeMac, decodePort, encodeIp, encodeMac, encodePort } from './encoding.js';
import type { LinkRef, RtnlSocket } from './rtnl-socket.js';

/** The MAC of head-end replication entries: broadcast, unknown unicast and multicast go to every such dst. */
export const FLOOD_MAC = '00:00:00:00:00:00';

export interface FdbSpec {
  mac: string;
  /** Remote VTEP address (VXLAN devices). */
  dst?: string;
  /** VNI to send with, when not the device's own. */
  vni?: number;
  /** UDP port to send to, when not the device's own. */
  port?: number;
  /** The device's own table (the default when master is not set). */
  self?: boolean;
  /** The table of the bridge the device is attached to. */
  master?: boolean;
}

export interface FdbEntry {
  dev: string;
  mac: string;
  dst: string | undefined;
  vni: number | undefined;
  port: number | undefined;
  /** Name of the bridge the entry belongs to (NDA_MASTER), for entries in a bridge's table. */
  bridge: string | undefined;
  self: boolean;
  master: boolean;
  permanent: boolean;
}

export class Fdb {
  constructor(private readonly rtnl: RtnlSocket) {}

  /** EEXIST when dev already has an entry for the MAC. */
  add(dev: LinkRef, spec: FdbSpec): Promise<void> {
    return this.write('add', dev, spec, FlagsNew.CREATE | FlagsNew.EXCL);
  }

  /** Adds one more dst for the MAC (VXLAN), as the all-zero flood entries need: one per remote. */
  append(dev: LinkRef, spec: FdbSpec): Promise<void> {
    return this.write('append', dev, spec, FlagsNew.CREATE | FlagsNew.APPEND);
  }

  /** Creates the entry or replaces the MAC's existing one (e.g. when a MAC moved to another remote). */
  replace(dev: LinkRef, spec: FdbSpec): Promise<void> {
    return this.write('replace', dev, spec, FlagsNew.CREATE | FlagsNew.REPLACE);
  }

  /** Deletes the entry; with dst, only that destination of a MAC that has several. ENOENT when not there. */
  delete(dev: LinkRef, spec: FdbSpec): Promise<void> {
    const op = `delete fdb ${describeFdb(spec)} on ${dev}`;
    return this.rtnl.operation(op, async () => {
      const { data, attrs } = await this.message(dev, spec, op);
      await this.rtnl.request(op, (s, o) => s.delNeighbor(data, attrs, o));
    });
  }

  /** Entries on dev, or on every link when dev is not given. */
  list(dev?: LinkRef): Promise<FdbEntry[]> {
    const op = dev === undefined ? 'list fdb' : `list fdb on ${dev}`;
    return this.rtnl.operation(op, async () => {
      const index = dev === undefined ? undefined : await this.rtnl.ifindex(dev, op);
      const msgs = await this.rtnl.dump(op, (s, o) => s.getNeighbors({ family: AF_BRIDGE }, {}, o));
      const names = await this.rtnl.linkNames();
      return msgs
        .filter((m) => m.data.family === AF_BRIDGE && (index === undefined || m.data.ifindex === index))
        .map((m) => toEntry(m, names));
    });
  }

  private write(verb: string, dev: LinkRef, spec: FdbSpec, flags: number): Promise<void> {
    const op = `${verb} fdb ${describeFdb(spec)} on ${dev}`;
    return this.rtnl.operation(op, async () => {
      const { data, attrs } = await this.message(dev, spec, op);
      await this.rtnl.request(op, (s, o) => s.newNeighbor(data, attrs, { ...o, flags }));
    });
  }

  private async message(dev: LinkRef, spec: FdbSpec, op: string): Promise<{ data: rt.Neighbor; attrs: rt.NeighborAttrs }> {
    const lladdr = encodeMac(spec.mac);
    const ifindex = await this.rtnl.ifindex(dev, op);
    const master = spec.master === true;
    const self = spec.self === true || !master;
    const data: rt.Neighbor = { family: AF_BRIDGE, ifindex, state: { permanent: true }, flags: { ...(self ? { self: true } : {}), ...(master ? { master: true } : {}) } };
    const attrs: rt.NeighborAttrs = {
      lladdr,
      ...(spec.dst !== undefined ? { dst: encodeIp(spec.dst) } : {}),
      ...(spec.vni !== undefined ? { vni: encodeU32Host(spec.vni) } : {}),
      ...(spec.port !== undefined ? { port: encodePort(spec.port) } : {}),
    };
    return { data, attrs };
  }
}

export function describeFdb(spec: FdbSpec): string {
  const parts = [spec.mac];
  if (spec.dst !== undefined) parts.push(`dst ${spec.dst}`);
  if (spec.vni !== undefined) parts.push(`vni ${spec.vni}`);
  if (spec.port !== undefined) parts.push(`port ${spec.port}`);
  if (spec.master) parts.push('master');
  if (spec.self) parts.push('self');
  return parts.join(' ');
}

/** NDA_VNI is a u32 in host byte order. */
function encodeU32Host(n: number): Buffer {
  const out = Buffer.alloc(4);
  if (endianness() === 'LE') out.writeUInt32LE(n);
  else out.writeUInt32BE(n);
  return out;
}

function decodeU32Host(b: Buffer): number {
  return endianness() === 'LE' ? b.readUInt32LE(0) : b.readUInt32BE(0);
}

function toEntry(m: rt.NeighborMessage, names: ReadonlyMap<number, string>): FdbEntry {
  const index = m.data.ifindex ?? 0;
  const bridge = m.attrs.master;
  return {
    dev: names.get(index) ?? `if${index}`,
    mac: m.attrs.lladdr ? decodeMac(m.attrs.lladdr) : '',
    dst: m.attrs.dst ? decodeIp(m.attrs.dst) : undefined,
    vni: m.attrs.vni && m.attrs.vni.length >= 4 ? decodeU32Host(m.attrs.vni) : undefined,
    port: m.attrs.port && m.attrs.port.length >= 2 ? decodePort(m.attrs.port) : undefined,
    bridge: bridge ? (names.get(bridge) ?? `if${bridge}`) : undefined,
    self: m.data.flags?.self === true,
    master: m.data.flags?.master === true,
    permanent: m.data.state?.permanent === true,
  };
}
