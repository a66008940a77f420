// The agent: one per node. It owns the node's lifecycle: start the API, later the cluster core,
// store and controllers; stop them in reverse order on SIGTERM/SIGINT.
import { mkdirSync } from 'node:fs';
import { ApiServer } from '../api/server.js';
import { Router } from '../api/router.js';
import { addSystemRoutes, commonHeaders } from '../api/system.js';
import { addMemberRoutes } from '../api/members.js';
import { addSwarmRoutes } from '../api/swarm.js';
import { addNetworkRoutes } from '../api/networks.js';
import { addServiceRoutes } from '../api/services.js';
import { addLogRoutes } from '../api/logs.js';
import { Swarm } from '../cluster/swarm.js';
import { NodeControllers } from '../controllers/node.js';
import { Memberlist } from '../cluster/memberlist.js';
import { Encoder } from '../cluster/wire/msgpack.js';
import { Keyring } from '../cluster/wire/security.js';
import type { AgentConfig } from '../config/agent-config.js';
import { defaults } from '../config/defaults.js';
import { MDNS_PORT } from '../cluster/discovery.js';
import { NODE_API_PORT } from '../cluster/node-api.js';
import { etcdDefaults } from '../etcd/tunables.js';
import { clusterReservedPorts, type ReservedPort } from '../model/ports.js';
import type { Logger } from '../util/log.js';
import { packageVersion } from '../util/paths.js';

export class Agent {
  private readonly api: ApiServer;
  private stopping: Promise<void> | undefined;
  private gossip: Memberlist | undefined;
  private readonly swarm: Swarm;
  private readonly controllers: NodeControllers;

  constructor(
    readonly config: AgentConfig,
    private readonly log: Logger,
  ) {
    const router = new Router();
    addSystemRoutes(router, new Date());
    this.controllers = new NodeControllers({ dataDir: config.dataDir, runtime: config.runtime, lbBackend: config.lbBackend, vxlanPort: defaults.vxlanPort, log, dnsUpstream: config.dnsUpstream, ...(config.dnsListen ? { dnsListen: config.dnsListen } : {}) });
    this.swarm = new Swarm({ dataDir: config.dataDir, nodeName: config.nodeName, gossipPort: config.gossipPort, log: log.child({ component: 'swarm' }), member: this.controllers });
    addMemberRoutes(router, () => this.gossip);
    addSwarmRoutes(router, this.swarm, config, log.child({ component: 'mdns' }), () => this.controllers.lbChoice);
    addNetworkRoutes(router, this.swarm, () => this.controllers.current);
    addServiceRoutes(router, this.swarm, () => this.controllers.current, () => this.reservedPorts());
    addLogRoutes(router, this.swarm, () => this.controllers.current);
    this.api = new ApiServer(router, log.child({ component: 'api' }), commonHeaders);
  }

  /** The ports this cluster's nodes listen on, as configured: no service may publish them. */
  private reservedPorts(): ReservedPort[] {
    return clusterReservedPorts({
      joinPorts: [this.swarm.listenPort ?? defaults.clusterPort, defaults.clusterPort], nodeApiPort: NODE_API_PORT, gossipPort: this.config.gossipPort, vxlanPort: defaults.vxlanPort,
      mdnsPort: MDNS_PORT, etcdClientPort: etcdDefaults.clientPort, etcdPeerPort: etcdDefaults.peerPort, etcdMetricsPort: etcdDefaults.metricsPort,
    });
  }

  async start(): Promise<void> {
    mkdirSync(this.config.dataDir, { recursive: true, mode: 0o700 });
    // Before the API: --lb-backend ipvs on a kernel without IPVS stops the agent here, saying why.
    const lb = await this.controllers.chooseLb();
    await this.api.listen(this.config.apiSocket);
    if (this.config.joinPool.length > 0) await this.startGossip();
    else await this.swarm.resume();
    this.log.info(
      { version: packageVersion, socket: this.config.apiSocket, dataDir: this.config.dataDir, advertiseAddr: this.config.advertiseAddr, runtime: this.config.runtime, lb: lb.reason },
      'agent started',
    );
  }

  /** Interop mode: join an existing memberlist pool (a Serf cluster, say) with no token. */
  private async startGossip(): Promise<void> {
    const keyring = this.config.gossipKey ? Keyring.fromBase64([this.config.gossipKey]) : undefined;
    this.gossip = new Memberlist({
      name: this.config.nodeName,
      addr: this.config.advertiseAddr!,
      port: this.config.gossipPort,
      keyring,
      meta: serfTags({ role: 'shoal' }),
      log: this.log.child({ component: 'gossip' }),
    });
    await this.gossip.start();
    const joined = await this.gossip.join(this.config.joinPool);
    this.log.info({ pool: this.config.joinPool, answered: joined }, 'joined gossip pool');
  }

  /** Stops everything; safe to call more than once (later calls wait for the first). */
  stop(reason: string): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info({ reason }, 'agent stopping');
      if (this.gossip) {
        await this.gossip.leave(2000);
        await this.gossip.shutdown();
      }
      await this.swarm.stop();
      await this.api.close();
      this.log.info('agent stopped');
    })();
    return this.stopping;
  }

  /** Stops on SIGTERM/SIGINT; exits non-zero if shutdown takes longer than the timeout. */
  handleSignals(exit: (code: number) => void = (code) => process.exit(code)): void {
    const onSignal = (signal: NodeJS.Signals) => {
      const timer = setTimeout(() => {
        this.log.error({ timeoutMs: defaults.shutdownTimeoutMs }, 'shutdown took too long, exiting');
        exit(1);
      }, defaults.shutdownTimeoutMs);
      timer.unref();
      this.stop(signal).then(
        () => exit(0),
        (err: unknown) => {
          this.log.error({ err }, 'shutdown failed');
          exit(1);
        },
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
}

/** Node meta as Serf reads tags: a 0xff magic byte, then a msgpack map of strings. */
function serfTags(tags: Record<string, string>): Uint8Array {
  return Buffer.concat([Uint8Array.of(0xff), new Encoder().map(tags).finish()]);
}
