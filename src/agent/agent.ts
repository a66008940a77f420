// The agent: one per node. It owns the node's lifecycle: start the API, later the cluster core,
// store and controllers; stop them in reverse order on SIGTERM/SIGINT.
import { mkdirSync } from 'node:fs';
import { ApiServer } from '../api/server.js';
import { Router } from '../api/router.js';
import { addSystemRoutes, commonHeaders } from '../api/system.js';
import type { AgentConfig } from '../config/agent-config.js';
import { defaults } from '../config/defaults.js';
import type { Logger } from '../util/log.js';
import { packageVersion } from '../util/paths.js';

export class Agent {
  private readonly api: ApiServer;
  private stopping: Promise<void> | undefined;

  constructor(
    readonly config: AgentConfig,
    private readonly log: Logger,
  ) {
    const router = new Router();
    addSystemRoutes(router, new Date());
    this.api = new ApiServer(router, log.child({ component: 'api' }), commonHeaders);
  }

  async start(): Promise<void> {
    mkdirSync(this.config.dataDir, { recursive: true, mode: 0o700 });
    await this.api.listen(this.config.apiSocket);
    this.log.info(
      { version: packageVersion, socket: this.config.apiSocket, dataDir: this.config.dataDir, advertiseAddr: this.config.advertiseAddr, runtime: this.config.runtime },
      'agent started',
    );
  }

  /** Stops everything; safe to call more than once (later calls wait for the first). */
  stop(reason: string): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info({ reason }, 'agent stopping');
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
