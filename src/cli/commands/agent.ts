// `shoal agent`: resolves the configuration (defaults < --config file < SHOAL_* env < flags) and runs the agent.
import { Agent } from '../../agent/agent.js';
import { Swarm } from '../../cluster/swarm.js';
import { cleanupNode } from '../../controllers/node.js';
import { resolveAgentConfig, settingsFromEnv, settingsFromFile, type RawSettings } from '../../config/agent-config.js';
import { createLogger } from '../../util/log.js';

export interface AgentFlags {
  config?: string;
  nodeName?: string;
  advertiseAddr?: string;
  dataDir?: string;
  logLevel?: string;
  logFormat?: string;
  runtime?: string;
  lbBackend?: string;
  joinPool?: string;
  gossipKey?: string;
  gossipPort?: string;
  cleanup?: boolean;
  dnsListen?: string;
  dnsUpstream?: string;
}

export async function agentCommand(flags: AgentFlags, host: string | undefined): Promise<void> {
  const fromFile = flags.config ? settingsFromFile(flags.config) : {};
  const fromFlags: RawSettings = {};
  for (const key of ['nodeName', 'advertiseAddr', 'dataDir', 'logLevel', 'logFormat', 'runtime', 'lbBackend', 'joinPool', 'gossipKey', 'gossipPort', 'dnsListen', 'dnsUpstream'] as const) {
    const v = flags[key];
    if (v !== undefined) fromFlags[key] = v;
  }
  if (host !== undefined) fromFlags.host = host;
  const config = resolveAgentConfig(fromFile, settingsFromEnv(process.env), fromFlags);
  const log = createLogger({ level: config.logLevel, format: config.logFormat, base: { node: config.nodeName } });
  if (flags.cleanup) {
    const nodeId = Swarm.storedNodeId(config.dataDir);
    if (!nodeId) return void process.stdout.write(`nothing to clean up: ${config.dataDir} holds no swarm state\n`);
    const { removed, failed } = await cleanupNode({ dataDir: config.dataDir, runtime: config.runtime, nodeId, log });
    process.stdout.write(`removed ${removed} task${removed === 1 ? '' : 's'}, the overlay sandboxes and the egress bridge of node ${nodeId}\n`);
    if (failed.length > 0) throw new Error(`cleanup left something behind:\n  ${failed.join('\n  ')}`);
    return;
  }
  const agent = new Agent(config, log);
  agent.handleSignals();
  await agent.start();
}
