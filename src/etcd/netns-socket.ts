// A TCP connection opened from inside a given network namespace, for code that runs in one namespace
// and must reach a service listening in another (an etcd member's loopback-only metrics port while the
// agent or a test lives elsewhere). The socket is created inside the namespace by the native addon and
// then connected from here; everything after creation is an ordinary net.Socket.
import net from 'node:net';
import { Netns } from '../kernel/netns.js';

/** Connects to host:port; from inside the namespace at `netnsPath` when given, else from our own. */
export function connectTcp(host: string, port: number, netnsPath?: string): net.Socket {
  if (netnsPath === undefined) return net.connect(port, host);
  const ns = Netns.open({ path: netnsPath });
  let fd: number;
  try {
    fd = ns.socket('tcp', net.isIPv6(host) ? '::' : '0.0.0.0', 0);
  } finally {
    ns.close();
  }
  const socket = new net.Socket({ fd, readable: true, writable: true });
  socket.connect(port, host);
  return socket;
}
