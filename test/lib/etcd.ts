// Test helpers for the etcd layer: a cluster CA with node certificates (as shoal signs them), a small
// network of namespaces on one bridge (each member in its own, 10.77.0.<i>), etcd members started with
// EtcdMember and stopped (data and logs removed) on teardown, and a loopback relay so the test process,
// which lives in the host's namespace, can talk TLS to a member inside its namespace.
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { createCa, createKeyAndCsr, signNodeCsr, type CaFiles, type NodeRole } from '../../src/cluster/ca.js';
import { netnsPath } from '../../src/kernel/netns.js';
import { createEtcdClient, type EtcdClientTls } from '../../src/etcd/client.js';
import { EtcdMember, httpsUrl, initialClusterToken, type EtcdMemberConfig } from '../../src/etcd/member.js';
import { connectTcp } from '../../src/etcd/netns-socket.js';
import { tempDir as agentTempDir } from './agent.js';
import { scratchNetns, sh, uniqueName, type Teardown } from './kernel.js';
import type { Etcd3 } from 'etcd3';

export const CLUSTER_ID = 'c1u5ter';

/** A scratch directory removed at teardown (`shoal-etcd-<label>-`). */
export function tempDir(t: Teardown, label: string): string {
  return agentTempDir(t, `etcd-${label}`);
}

export interface NodeCert {
  nodeId: string;
  role: NodeRole;
  certPem: string;
  keyPem: string;
  certFile: string;
  keyFile: string;
}

export interface Pki {
  ca: CaFiles;
  caFile: string;
  dir: string;
  /** A node certificate made the way shoal makes them (etcdNames on). */
  node(nodeId: string, role: NodeRole, addr: string): NodeCert;
  tls(cert: NodeCert): EtcdClientTls;
}

export function makePki(t: Teardown): Pki {
  const dir = tempDir(t, 'pki');
  const ca = createCa();
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, ca.certPem);
  return {
    ca, caFile, dir,
    node(nodeId, role, addr) {
      const { keyPem, csrPem } = createKeyAndCsr();
      const certPem = signNodeCsr(ca, csrPem, { nodeId, role, clusterId: CLUSTER_ID, addr, etcdNames: true });
      const certFile = join(dir, `${nodeId}.crt`);
      const keyFile = join(dir, `${nodeId}.key`);
      writeFileSync(certFile, certPem);
      writeFileSync(keyFile, keyPem, { mode: 0o600 });
      return { nodeId, role, certPem, keyPem, certFile, keyFile };
    },
    tls: (cert) => ({ caPem: ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem }),
  };
}

export interface NetHost {
  netns: string;
  nsPath: string;
  addr: string;
}

/** A bridge in a hub namespace and `n` namespaces on it, host i at 10.77.0.<i+1>/24. */
export function makeNet(t: Teardown, n: number): NetHost[] {
  const hub = scratchNetns(t, 'eh');
  sh('ip', ['-n', hub.name, 'link', 'add', 'br0', 'type', 'bridge']);
  sh('ip', ['-n', hub.name, 'link', 'set', 'br0', 'up']);
  const hosts: NetHost[] = [];
  for (let i = 0; i < n; i++) {
    const ns = scratchNetns(t, 'em');
    const addr = `10.77.0.${i + 1}`;
    const port = `p${i}`;
    sh('ip', ['-n', hub.name, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name]);
    sh('ip', ['-n', hub.name, 'link', 'set', port, 'master', 'br0', 'up']);
    sh('ip', ['-n', ns.name, 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
    sh('ip', ['-n', ns.name, 'link', 'set', 'eth0', 'up']);
    hosts.push({ netns: ns.name, nsPath: netnsPath({ name: ns.name }), addr });
  }
  return hosts;
}

/** A TCP relay from 127.0.0.1:<ephemeral> (here) to host:port inside a namespace; closed on teardown. */
export async function relay(t: Teardown, nsPath: string, host: string, port: number): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = connectTcp(host, port, nsPath);
    sockets.add(inbound).add(outbound);
    const end = () => { inbound.destroy(); outbound.destroy(); sockets.delete(inbound); sockets.delete(outbound); };
    inbound.on('error', end).on('close', end);
    outbound.on('error', end).on('close', end);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as net.AddressInfo).port;
}

export interface TestMember {
  member: EtcdMember;
  host: NetHost;
  cert: NodeCert;
  /** https://127.0.0.1:<relay> reaching this member's client port from the test process. */
  endpoint: string;
  config: EtcdMemberConfig;
}

/** An EtcdMember for `cert` on `host` (not started), stopped and its files removed on teardown. */
export async function testMember(t: Teardown, pki: Pki, host: NetHost, cert: NodeCert, initialCluster: string, state: 'new' | 'existing', extra: Partial<EtcdMemberConfig> = {}): Promise<TestMember> {
  const dir = tempDir(t, cert.nodeId);
  const config: EtcdMemberConfig = {
    nodeId: cert.nodeId,
    addr: host.addr,
    dataDir: join(dir, 'data'),
    tls: { caFile: pki.caFile, certFile: cert.certFile, keyFile: cert.keyFile },
    clusterToken: initialClusterToken(CLUSTER_ID),
    initialCluster,
    initialClusterState: state,
    logFile: join(dir, 'etcd.log'),
    netnsPath: host.nsPath,
    ...extra,
  };
  const member = new EtcdMember(config);
  t.teardown(() => member.stop());
  const port = await relay(t, host.nsPath, host.addr, 2379);
  return { member, host, cert, endpoint: `https://127.0.0.1:${port}`, config };
}

export function peerUrl(host: NetHost): string {
  return httpsUrl(host.addr, 2380);
}

/** A client for `cert` over the relays of `members`; closed on teardown. */
export function testClient(t: Teardown, pki: Pki, cert: NodeCert, members: ReadonlyArray<TestMember>, callDeadlineMs?: number): Etcd3 {
  const client = createEtcdClient({ endpoints: members.map((m) => m.endpoint), tls: pki.tls(cert), ...(callDeadlineMs ? { callDeadlineMs } : {}) });
  t.teardown(() => client.close());
  return client;
}

/** The pid's resident set size in MiB (from /proc). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(sh('cat', [`/proc/${pid}/status`]));
  return m ? Number(m[1]) / 1024 : NaN;
}

export { uniqueName };
