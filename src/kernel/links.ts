// Network links (devices) of one namespace: create veth pairs, bridges and VXLAN devices, change
// state, MTU, MAC, name and master, move a link to another namespace, delete, and read links back
// as typed objects.
import { AttrStream, FlagsNew, ifla, rt, type StreamData } from 'netlink';
import { decodeIp, decodeMac, decodePort, encodeIp, encodeMac, encodePort, ipFamily, isValidLinkName, validateLinkName } from './encoding.js';
import { KernelError } from './errors.js';
import { describeNetns, Netns, type NetnsRef } from './netns.js';
import type { LinkRef, RtnlSocket } from './rtnl-socket.js';

export const VXLAN_DEFAULT_PORT = 4789;

/** A link as read back from the kernel. */
export interface Link {
  index: number;
  name: string;
  /** IFLA_INFO_KIND: 'veth', 'bridge', 'vxlan', ...; undefined for devices without one (lo, physical NICs). */
  kind: string | undefined;
  mtu: number;
  /** The link-layer address, lower case; undefined for devices without one. */
  mac: string | undefined;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** Name of the bridge (or other master) this link is attached to. */
  master: string | undefined;
  /** Present when kind is 'vxlan'. */
  vxlan: VxlanInfo | undefined;
}

export interface VxlanInfo {
  vni: number;
  /** UDP destination port. */
  port: number;
  /** Source address of the tunnel, if one was set. */
  local: string | undefined;
  learning: boolean;
  proxy: boolean;
}

/**
 * Where a link should live: an open namespace handle (its fd is passed, IFLA_NET_NS_FD), a process
 * ({ pid }, passed as IFLA_NET_NS_PID), or any other namespace reference (opened for the call).
 */
export type NetnsTarget = Netns | NetnsRef;

export interface LinkOptions {
  mtu?: number;
  mac?: string;
  /** Create the link directly in this namespace instead of the socket's. */
  netns?: NetnsTarget;
}

export interface VethPeer extends LinkOptions {
  name: string;
}

export interface VxlanOptions extends LinkOptions {
  vni: number;
  /** UDP destination port; 4789 (IANA) unless given. The kernel's own default would be 8472. */
  port?: number;
  /** Tunnel source address (IPv4 or IPv6). */
  local?: string;
  /** Learn remote MACs from received packets; off unless given (peers are programmed statically). */
  learning?: boolean;
  /** Answer ARP/ND from the neighbour table instead of flooding; off unless given. */
  proxy?: boolean;
}

type NetnsAttrs = { netNsFd?: number; netNsPid?: number };

export class Links {
  constructor(private readonly rtnl: RtnlSocket) {}

  async list(): Promise<Link[]> {
    const msgs = await this.rtnl.dump('list links', (s, o) => s.getLinks({}, {}, o));
    const names = new Map(msgs.map((m) => [m.data.index ?? 0, m.attrs.ifname ?? '']));
    return msgs.map((m) => toLink(m, names));
  }

  /** The link, or ENODEV. */
  async get(link: LinkRef): Promise<Link> {
    const found = await this.find(link);
    if (!found) {
      const what = typeof link === 'number' ? `with index ${link}` : `named '${link}'`;
      throw new KernelError('ENODEV', this.rtnl.where(`get link ${link}`), `no link ${what} in ${this.rtnl.netns}`);
    }
    return found;
  }

  /** The link, or undefined when there is none. */
  find(link: LinkRef): Promise<Link | undefined> {
    const op = `get link ${link}`;
    return this.rtnl.operation(op, async () => {
      const msg = await this.getMessage(link, op);
      if (!msg) return undefined;
      const master = msg.attrs.master;
      const masterName = master ? (await this.getMessage(master, op))?.attrs.ifname : undefined;
      return toLink(msg, new Map(master && masterName !== undefined ? [[master, masterName]] : []));
    });
  }

  /** A veth pair; either end may be created directly in another namespace. */
  addVeth(name: string, peer: VethPeer, options: LinkOptions = {}): Promise<void> {
    const op = `add link ${name} (veth peer ${peer.name}${inTarget(peer.netns)})${inTarget(options.netns)}`;
    return this.rtnl.operation(op, () => {
      validateLinkName(peer.name);
      return withNetnsAttrs(peer.netns, (peerNs) => {
        const peerAttrs = ifla.formatLinkAttrs({ ifname: peer.name, ...commonAttrs(peer), ...peerNs });
        const peerMsg = Buffer.concat([rt.formatLink({}), toBuffer(peerAttrs)]);
        return this.create(op, name, 'veth', toBuffer(ifla.formatVethInfo({ peer: peerMsg })), options);
      });
    });
  }

  addBridge(name: string, options: LinkOptions = {}): Promise<void> {
    const op = `add link ${name} (bridge)${inTarget(options.netns)}`;
    return this.rtnl.operation(op, () => this.create(op, name, 'bridge', undefined, options));
  }

  addVxlan(name: string, options: VxlanOptions): Promise<void> {
    const port = options.port ?? VXLAN_DEFAULT_PORT;
    const op = `add link ${name} (vxlan vni ${options.vni} port ${port}${options.local ? ` local ${options.local}` : ''})${inTarget(options.netns)}`;
    return this.rtnl.operation(op, () => {
      const local = options.local === undefined ? {} : ipFamily(options.local) === 6 ? { local6: encodeIp(options.local) } : { local: encodeIp(options.local) };
      const data = ifla.formatVxlan({
        id: options.vni,
        port: encodePort(port),
        learning: options.learning ? 1 : 0,
        proxy: options.proxy ? 1 : 0,
        ...local,
      });
      return this.create(op, name, 'vxlan', toBuffer(data), options);
    });
  }

  setUp(link: LinkRef): Promise<void> {
    return this.set(link, `set link ${link} up`, () => ({}), { change: { up: true }, flags: { up: true } });
  }

  setDown(link: LinkRef): Promise<void> {
    return this.set(link, `set link ${link} down`, () => ({}), { change: { up: true }, flags: {} });
  }

  setMtu(link: LinkRef, mtu: number): Promise<void> {
    return this.set(link, `set link ${link} mtu ${mtu}`, () => ({ mtu }));
  }

  setMac(link: LinkRef, mac: string): Promise<void> {
    return this.set(link, `set link ${link} address ${mac}`, () => ({ address: encodeMac(mac) }));
  }

  rename(link: LinkRef, newName: string): Promise<void> {
    return this.set(link, `rename link ${link} to ${newName}`, () => {
      validateLinkName(newName);
      return { ifname: newName };
    });
  }

  /** Attaches link to a bridge (or other master). */
  setMaster(link: LinkRef, master: LinkRef): Promise<void> {
    const op = `set link ${link} master ${master}`;
    return this.set(link, op, async () => ({ master: await this.rtnl.ifindex(master, op) }));
  }

  /** Detaches link from its master. */
  clearMaster(link: LinkRef): Promise<void> {
    return this.set(link, `set link ${link} nomaster`, () => ({ master: 0 }));
  }

  /** Moves link into another namespace, optionally renaming it on the way (one request, like `ip link set X netns NS name Y`). */
  moveTo(link: LinkRef, target: NetnsTarget, options: { name?: string } = {}): Promise<void> {
    const op = `move link ${link} to ${describeTarget(target)}${options.name ? ` as ${options.name}` : ''}`;
    return this.rtnl.operation(op, async () => {
      if (options.name !== undefined) validateLinkName(options.name);
      const rename = options.name !== undefined ? { ifname: options.name } : {};
      const index = await this.rtnl.ifindex(link, op);
      await withNetnsAttrs(target, (ns) => this.rtnl.request(op, (s, o) => s.setLink({ index }, { ...ns, ...rename }, o)));
    });
  }

  delete(link: LinkRef): Promise<void> {
    const op = `delete link ${link}`;
    return this.rtnl.operation(op, async () => {
      const index = await this.rtnl.ifindex(link, op);
      await this.rtnl.request(op, (s, o) => s.delLink({ index }, {}, o));
    });
  }

  private async create(op: string, name: string, kind: string, data: Buffer | undefined, options: LinkOptions): Promise<void> {
    validateLinkName(name);
    const linkinfo = toBuffer(ifla.formatInfo(data === undefined ? { kind } : { kind, data }));
    const attrs = { ifname: name, linkinfo, ...commonAttrs(options) };
    await withNetnsAttrs(options.netns, (ns) =>
      this.rtnl.request(op, (s, o) => s.newLink({}, { ...attrs, ...ns }, { ...o, flags: FlagsNew.CREATE | FlagsNew.EXCL })),
    );
  }

  /** One RTM_SETLINK on link: attrs (computed inside the operation, so bad input is reported as part of it) and IFF_* flag changes. */
  private set(link: LinkRef, op: string, attrs: () => ifla.LinkAttrs | Promise<ifla.LinkAttrs>, flags: Pick<rt.Link, 'change' | 'flags'> = {}): Promise<void> {
    return this.rtnl.operation(op, async () => {
      const values = await attrs();
      const index = await this.rtnl.ifindex(link, op);
      await this.rtnl.request(op, (s, o) => s.setLink({ index, ...flags }, values, o));
    });
  }

  /** RTM_GETLINK by index or name; undefined when there is no such link. */
  private async getMessage(link: LinkRef, op: string): Promise<rt.LinkMessage | undefined> {
    if (typeof link === 'string' && !isValidLinkName(link)) return undefined;
    const key: [rt.Link, ifla.LinkAttrs] = typeof link === 'number' ? [{ index: link }, {}] : [{}, { ifname: link }];
    try {
      const [msg] = await this.rtnl.request(op, (s, o) => s.getLink(key[0], key[1], o), 'link');
      return msg;
    } catch (err) {
      if (err instanceof KernelError && err.code === 'ENODEV') return undefined;
      throw err;
    }
  }
}

function commonAttrs(options: LinkOptions): ifla.LinkAttrs {
  return {
    ...(options.mtu !== undefined ? { mtu: options.mtu } : {}),
    ...(options.mac !== undefined ? { address: encodeMac(options.mac) } : {}),
  };
}

function toBuffer(data: StreamData): Buffer {
  const s = new AttrStream();
  s.emit(data);
  return Buffer.concat(s.bufs);
}

function toLink(msg: rt.LinkMessage, names: ReadonlyMap<number, string>): Link {
  const info = msg.attrs.linkinfo ? ifla.parseInfo(msg.attrs.linkinfo) : undefined;
  const master = msg.attrs.master || undefined;
  return {
    index: msg.data.index ?? 0,
    name: msg.attrs.ifname ?? '',
    kind: info?.kind,
    mtu: msg.attrs.mtu ?? 0,
    mac: msg.attrs.address && msg.attrs.address.length > 0 ? decodeMac(msg.attrs.address) : undefined,
    up: msg.data.flags?.up === true,
    master: master === undefined ? undefined : (names.get(master) ?? `if${master}`),
    vxlan: info?.kind === 'vxlan' && info.data ? toVxlanInfo(ifla.parseVxlan(info.data)) : undefined,
  };
}

function toVxlanInfo(v: ifla.Vxlan): VxlanInfo {
  const local = v.local ?? v.local6;
  return {
    vni: v.id ?? 0,
    port: v.port ? decodePort(v.port) : 0,
    local: local && !local.every((b) => b === 0) ? decodeIp(local) : undefined,
    learning: v.learning === 1,
    proxy: v.proxy === 1,
  };
}

function describeTarget(target: NetnsTarget): string {
  return target instanceof Netns ? describeNetns(target.ref) : describeNetns(target);
}

function inTarget(target: NetnsTarget | undefined): string {
  return target === undefined ? '' : ` in ${describeTarget(target)}`;
}

/** Runs fn with the attribute that puts a link into target (none when target is undefined). */
async function withNetnsAttrs<T>(target: NetnsTarget | undefined, fn: (attrs: NetnsAttrs) => Promise<T>): Promise<T> {
  if (target === undefined) return fn({});
  if (target instanceof Netns) return fn({ netNsFd: target.fd });
  if (target !== 'self' && 'pid' in target) return fn({ netNsPid: target.pid });
  const ns = Netns.open(target);
  try {
    return await fn({ netNsFd: ns.fd });
  } finally {
    ns.close();
  }
}
