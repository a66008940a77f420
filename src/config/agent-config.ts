// The agent's configuration: defaults, overlaid by a JSON config file, then SHOAL_* environment
// variables, then command-line flags. Validated once, before anything starts, with errors that
// name the field and where it came from.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { defaults, LB_BACKENDS, LOG_FORMATS, LOG_LEVELS, RUNTIMES, type LbSetting, type LogFormat, type LogLevel, type RuntimeKind } from './defaults.js';
import { ConfigError, parseHost } from './host.js';

export interface AgentConfig {
  nodeName: string;
  advertiseAddr: string | undefined;
  dataDir: string;
  apiSocket: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  runtime: RuntimeKind;
  /** The load-balancer backend for VIPs and the routing mesh: auto, ipvs or nftables. */
  lbBackend: LbSetting;
  /** Interop mode: memberlist pools ("host:port") to join without a token. */
  joinPool: string[];
  /** Base64 gossip encryption key (16, 24 or 32 bytes), as `serf agent -encrypt` takes. */
  gossipKey: string | undefined;
  gossipPort: number;
  /** The operator DNS listener ("ip:port"), or undefined for none. */
  dnsListen: string | undefined;
  /** Where unknown names go: the resolv.conf's nameservers, given servers, or nowhere (SERVFAIL). */
  dnsUpstream: { resolvConf: string } | { servers: string[] } | 'none';
}

/** Raw settings as they come from one source, all optional strings; keys are AgentConfig's plus `host`. */
export type RawSettings = Partial<Record<Exclude<keyof AgentConfig, 'joinPool' | 'gossipPort' | 'dnsUpstream'> | 'joinPool' | 'gossipPort' | 'dnsUpstream' | 'host', string>>;

const ENV: Record<string, keyof RawSettings> = {
  SHOAL_NODE_NAME: 'nodeName',
  SHOAL_ADVERTISE_ADDR: 'advertiseAddr',
  SHOAL_DATA_DIR: 'dataDir',
  SHOAL_HOST: 'host',
  SHOAL_LOG_LEVEL: 'logLevel',
  SHOAL_LOG_FORMAT: 'logFormat',
  SHOAL_RUNTIME: 'runtime',
  SHOAL_LB_BACKEND: 'lbBackend',
  SHOAL_JOIN_POOL: 'joinPool',
  SHOAL_GOSSIP_KEY: 'gossipKey',
  SHOAL_GOSSIP_PORT: 'gossipPort',
  SHOAL_DNS_LISTEN: 'dnsListen',
  SHOAL_DNS_UPSTREAM: 'dnsUpstream',
};

const FILE_KEYS: readonly (keyof RawSettings)[] = ['nodeName', 'advertiseAddr', 'dataDir', 'host', 'logLevel', 'logFormat', 'runtime', 'lbBackend', 'joinPool', 'gossipKey', 'gossipPort', 'dnsListen', 'dnsUpstream'];

export function settingsFromEnv(env: NodeJS.ProcessEnv): RawSettings {
  const out: RawSettings = {};
  for (const [name, key] of Object.entries(ENV)) {
    const v = env[name];
    if (v !== undefined && v !== '') out[key] = v;
  }
  return out;
}

export function settingsFromFile(path: string): RawSettings {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path} must hold a JSON object like {"nodeName": "node1"}`);
  }
  const out: RawSettings = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!(FILE_KEYS as readonly string[]).includes(key)) {
      throw new ConfigError(`config file ${path}: unknown key '${key}' (known: ${FILE_KEYS.join(', ')})`);
    }
    if (typeof value !== 'string') throw new ConfigError(`config file ${path}: '${key}' must be a string`);
    out[key as keyof RawSettings] = value;
  }
  return out;
}

function oneOf<T extends string>(field: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(`invalid ${field} '${value}': use one of ${allowed.join(', ')}`);
  }
  return value as T;
}

/** Later sources win: resolveAgentConfig(fileSettings, envSettings, flagSettings). */
export function resolveAgentConfig(...sources: RawSettings[]): AgentConfig {
  const s: RawSettings = Object.assign({}, ...sources);
  const nodeName = s.nodeName ?? defaults.nodeName;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(nodeName)) {
    throw new ConfigError(`invalid node name '${nodeName}': use up to 63 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
  if (s.advertiseAddr !== undefined && isIP(s.advertiseAddr) === 0) {
    throw new ConfigError(`invalid advertise address '${s.advertiseAddr}': give an IP address of this node, like 192.168.56.101`);
  }
  const dataDir = s.dataDir ?? defaults.dataDir;
  if (!dataDir.startsWith('/')) throw new ConfigError(`data dir '${dataDir}' must be an absolute path`);
  const joinPool = (s.joinPool ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  for (const a of joinPool) {
    const m = /^(.+):(\d+)$/.exec(a);
    if (!m || isIP(m[1]!) === 0 || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new ConfigError(`invalid pool address '${a}': give IP:PORT, like 192.168.56.101:7946`);
  }
  if (joinPool.length > 0 && s.advertiseAddr === undefined) throw new ConfigError('joining a pool needs --advertise-addr: the address other members reach this node at');
  if (s.gossipKey !== undefined && ![16, 24, 32].includes(Buffer.from(s.gossipKey, 'base64').length)) {
    throw new ConfigError('invalid gossip key: it must be 16, 24 or 32 bytes in base64 (`serf keygen` makes one)');
  }
  const gossipPort = Number(s.gossipPort ?? defaults.gossipPort);
  if (!Number.isInteger(gossipPort) || gossipPort < 1 || gossipPort > 65535) throw new ConfigError(`invalid gossip port '${s.gossipPort}': use 1..65535`);
  const dnsListen = s.dnsListen === 'none' ? undefined : (s.dnsListen ?? defaults.dnsListen);
  if (dnsListen !== undefined) {
    const m = /^(.+):(\d+)$/.exec(dnsListen);
    if (!m || isIP(m[1]!) !== 4 || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new ConfigError(`invalid DNS listen address '${dnsListen}': give IPv4:PORT like 127.0.0.11:53, or none`);
  }
  let dnsUpstream: AgentConfig['dnsUpstream'] = { resolvConf: defaults.resolvConf };
  if (s.dnsUpstream === 'none') dnsUpstream = 'none';
  else if (s.dnsUpstream?.startsWith('/')) dnsUpstream = { resolvConf: s.dnsUpstream };
  else if (s.dnsUpstream !== undefined) {
    const servers = s.dnsUpstream.split(',').map((x) => x.trim()).filter(Boolean);
    for (const a of servers) if (isIP(a.replace(/:\d+$/, '')) === 0) throw new ConfigError(`invalid DNS upstream '${a}': give IP[:PORT] (comma-separated, at most 3), a resolv.conf path, or none`);
    if (servers.length === 0 || servers.length > 3) throw new ConfigError('give 1 to 3 DNS upstreams, like 10.0.2.3 or 10.0.2.3:53,10.0.2.4');
    dnsUpstream = { servers };
  }
  return {
    dnsListen,
    dnsUpstream,
    joinPool,
    gossipKey: s.gossipKey,
    gossipPort,
    nodeName,
    advertiseAddr: s.advertiseAddr,
    dataDir,
    apiSocket: parseHost(s.host),
    logLevel: oneOf('log level', s.logLevel ?? defaults.logLevel, LOG_LEVELS),
    logFormat: oneOf('log format', s.logFormat ?? defaults.logFormat, LOG_FORMATS),
    runtime: oneOf('runtime', s.runtime ?? defaults.runtime, RUNTIMES),
    lbBackend: oneOf('lb backend', s.lbBackend ?? defaults.lbBackend, LB_BACKENDS),
  };
}
