// `shoal agent`: resolves the configuration (defaults < --config file < SHOAL_* env < flags) and runs the agent.
import { Agent } from '../../agent/agent.js';
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
  joinPool?: string;
  gossipKey?: string;
  gossipPort?: string;
}

export async function agentCommand(flags: AgentFlags, host: string | undefined): Promise<void> {
  const fromFile = flags.config ? settingsFromFile(flags.config) : {};
  const fromFlags: RawSettings = {};
  for (const key of ['nodeName', 'advertiseAddr', 'dataDir', 'logLevel', 'logFormat', 'runtime', 'joinPool', 'gossipKey', 'gossipPort'] as const) {
    const v = flags[key];
    if (v !== undefined) fromFlags[key] = v;
  }
  if (host !== undefined) fromFlags.host = host;
  const config = resolveAgentConfig(fromFile, settingsFromEnv(process.env), fromFlags);
  const log = createLogger({ level: config.logLevel, format: config.logFormat, base: { node: config.nodeName } });
  const agent = new Agent(config, log);
  agent.handleSignals();
  await agent.start();
}
