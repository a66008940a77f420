// The entry point to rtnetlink: openRtnl(namespace) gives links, addresses, routes, neighbours and
// FDB entries of that namespace over one socket opened inside it. Import kernel networking from here.
import { Addresses } from './addresses.js';
import { Fdb } from './fdb.js';
import { Links } from './links.js';
import { Neighbours } from './neighbours.js';
import type { NetnsRef } from './netns.js';
import { Routes } from './routes.js';
import { RtnlSocket, type RtnlOptions, type RtnlSocketStats } from './rtnl-socket.js';

export type { Address, Addresses } from './addresses.js';
export type { Fdb, FdbEntry, FdbSpec } from './fdb.js';
export { FLOOD_MAC } from './fdb.js';
export type { Link, LinkOptions, Links, NetnsTarget, VethPeer, VxlanInfo, VxlanOptions } from './links.js';
export { VXLAN_DEFAULT_PORT } from './links.js';
export type { Neighbour, Neighbours, NeighbourState } from './neighbours.js';
export type { Route, Routes, RouteSpec } from './routes.js';
export { MAIN_TABLE } from './routes.js';
export type { LinkRef, RtnlOptions, RtnlSocketStats } from './rtnl-socket.js';
export { REPLY_BYTES, RTNL_DEFAULTS } from './rtnl-socket.js';

/** Everything rtnetlink offers for one namespace. Close it when done; it keeps the namespace alive while open. */
export interface Rtnl {
  /** The namespace as error messages name it. */
  readonly netns: string;
  readonly links: Links;
  readonly addresses: Addresses;
  readonly routes: Routes;
  readonly neighbours: Neighbours;
  readonly fdb: Fdb;
  /** Requests in flight and queued, the peak so far, and the socket's receive buffer. */
  readonly stats: RtnlSocketStats;
  close(): void;
}

/** Opens an rtnetlink socket inside the namespace ref names (its own with 'self'). */
export function openRtnl(ref: NetnsRef, options: RtnlOptions = {}): Rtnl {
  const socket = RtnlSocket.open(ref, options);
  return {
    netns: socket.netns,
    links: new Links(socket),
    addresses: new Addresses(socket),
    routes: new Routes(socket),
    neighbours: new Neighbours(socket),
    fdb: new Fdb(socket),
    get stats() {
      return socket.stats;
    },
    close: () => socket.close(),
  };
}

/** Opens, runs fn, closes. */
export async function withRtnl<T>(ref: NetnsRef, fn: (rtnl: Rtnl) => Promise<T>, options: RtnlOptions = {}): Promise<T> {
  const rtnl = openRtnl(ref, options);
  try {
    return await fn(rtnl);
  } finally {
    rtnl.close();
  }
}
