// IP routes of one namespace: add, replace, delete and list, with a destination CIDR or 'default',
// an optional gateway and device, in the main table unless another is named.
import { FlagsNew, rt } from 'netlink';
import { afOf, decodeIp, encodeIp, familyOfAf, ipFamily, parseCidr, type IpFamily } from './encoding.js';
import { KernelError } from './errors.js';
import type { LinkRef, RtnlSocket } from './rtnl-socket.js';

export const MAIN_TABLE = 254;

export interface RouteSpec {
  /** '10.99.0.0/16', '10.0.0.5' (a host route) or 'default'. */
  dst: string;
  /** Gateway address. */
  via?: string;
  /** Outgoing link. */
  dev?: LinkRef;
  /** Routing table id; main (254) unless given. */
  table?: number;
  metric?: number;
  /** Needed only for dst 'default' without a gateway; otherwise taken from the addresses. Default 4. */
  family?: IpFamily;
}

export interface Route {
  family: IpFamily;
  /** 'default' or a CIDR like '10.99.0.0/16' (host routes too: '10.0.0.5/32'). */
  dst: string;
  via: string | undefined;
  dev: string | undefined;
  table: number;
  metric: number | undefined;
  /** Who installed it: 'kernel', 'boot', 'static', ... (a number when it has no name). */
  protocol: string;
  /** 'universe', 'link', 'host', ... */
  scope: string;
  /** 'unicast', 'local', 'broadcast', ... */
  type: string;
  prefsrc: string | undefined;
}

export class Routes {
  constructor(private readonly rtnl: RtnlSocket) {}

  /** EEXIST when the same route is already there. */
  add(spec: RouteSpec): Promise<void> {
    return this.modify('add', spec, FlagsNew.CREATE | FlagsNew.EXCL);
  }

  /** Adds the route or replaces the one with the same destination, table and metric. */
  replace(spec: RouteSpec): Promise<void> {
    return this.modify('replace', spec, FlagsNew.CREATE | FlagsNew.REPLACE);
  }

  /** Deletes the route matching spec (fields not given match anything). ESRCH when there is none. */
  delete(spec: RouteSpec): Promise<void> {
    const op = `delete route ${describeRoute(spec)}`;
    return this.rtnl.operation(op, async () => {
      const { data, attrs } = await this.message(spec, op);
      // Scope NOWHERE, protocol and type unset: let the kernel match any, as `ip route del` does.
      await this.rtnl.request(op, (s, o) => s.delRoute({ ...data, scope: rt.RouteScope.NOWHERE, type: rt.RouteType.UNSPEC }, attrs, o));
    });
  }

  /** Routes in one table (main unless given), IPv4 and IPv6 unless family says which. */
  list(options: { table?: number; family?: IpFamily } = {}): Promise<Route[]> {
    const table = options.table ?? MAIN_TABLE;
    const op = `list routes in table ${table}`;
    const family = options.family === undefined ? 0 : afOf(options.family);
    return this.rtnl.operation(op, async () => {
      const msgs = await this.rtnl.dump(op, (s, o) => s.getRoutes({ family }, {}, o));
      const names = await this.rtnl.linkNames();
      return msgs.flatMap((m) => toRoute(m, names)).filter((r) => r.table === table);
    });
  }

  private modify(verb: string, spec: RouteSpec, flags: number): Promise<void> {
    const op = `${verb} route ${describeRoute(spec)}`;
    return this.rtnl.operation(op, async () => {
      const { data, attrs } = await this.message(spec, op);
      // A route without a gateway is on-link (scope link), as `ip route add X dev Y` makes it.
      const scope = spec.via === undefined && spec.dev !== undefined ? rt.RouteScope.LINK : rt.RouteScope.UNIVERSE;
      const full: rt.Route = { ...data, protocol: rt.RouteProtocol.STATIC, scope, type: rt.RouteType.UNICAST };
      await this.rtnl.request(op, (s, o) => s.newRoute(full, attrs, { ...o, flags }));
    });
  }

  private async message(spec: RouteSpec, op: string): Promise<{ data: rt.Route; attrs: rt.RouteAttrs }> {
    const table = spec.table ?? MAIN_TABLE;
    const dst = spec.dst === 'default' ? undefined : parseCidr(spec.dst);
    const family = dst?.family ?? (spec.via !== undefined ? ipFamily(spec.via) : undefined) ?? spec.family ?? 4;
    if (spec.via !== undefined && ipFamily(spec.via) !== family) {
      throw new KernelError('EINVAL', 'route', `gateway ${spec.via} is not an IPv${family} address`);
    }
    const oif = spec.dev === undefined ? undefined : await this.rtnl.ifindex(spec.dev, op);
    const data: rt.Route = { family: afOf(family), dstLen: dst?.prefixLen ?? 0, table: table < 256 ? table : 0 };
    const attrs: rt.RouteAttrs = {
      table,
      ...(dst ? { dst: encodeIp(dst.address) } : {}),
      ...(spec.via !== undefined ? { gateway: encodeIp(spec.via) } : {}),
      ...(oif !== undefined ? { oif } : {}),
      ...(spec.metric !== undefined ? { priority: spec.metric } : {}),
    };
    return { data, attrs };
  }
}

export function describeRoute(spec: RouteSpec): string {
  const parts = [spec.dst];
  if (spec.via !== undefined) parts.push(`via ${spec.via}`);
  if (spec.dev !== undefined) parts.push(`dev ${spec.dev}`);
  if (spec.table !== undefined) parts.push(`table ${spec.table}`);
  if (spec.metric !== undefined) parts.push(`metric ${spec.metric}`);
  return parts.join(' ');
}

function toRoute(m: rt.RouteMessage, names: ReadonlyMap<number, string>): Route[] {
  const family = familyOfAf(m.data.family ?? 0);
  if (family === undefined) return [];
  const dstLen = m.data.dstLen ?? 0;
  const dst = m.attrs.dst && dstLen > 0 ? `${decodeIp(m.attrs.dst)}/${dstLen}` : 'default';
  const oif = m.attrs.oif;
  return [{
    family,
    dst,
    via: m.attrs.gateway ? decodeIp(m.attrs.gateway) : undefined,
    dev: oif === undefined ? undefined : (names.get(oif) ?? `if${oif}`),
    table: m.attrs.table ?? m.data.table ?? 0,
    metric: m.attrs.priority,
    protocol: enumName(m.data.protocol),
    scope: enumName(m.data.scope),
    type: enumName(m.data.type),
    prefsrc: m.attrs.prefsrc ? decodeIp(m.attrs.prefsrc) : undefined,
  }];
}

function enumName(value: string | number | undefined): string {
  return value === undefined ? 'unspec' : String(value).toLowerCase();
}
