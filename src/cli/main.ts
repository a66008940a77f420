#!/usr/bin/env node
// The `shoal` command: parses arguments and dispatches to a command. Every command except `agent` is a
// thin client of the agent's API on its unix socket (-H / SHOAL_HOST, default /run/shoal/shoal.sock).
import { Command, CommanderError } from 'commander';
import { HOST_ENV } from '../config/defaults.js';
import { parseHost } from '../config/host.js';
import { packageVersion } from '../util/paths.js';
import { ApiClient } from './client.js';
import type { AgentFlags } from './commands/agent.js';
import { versionCommand } from './commands/version.js';
import { membersCommand } from './commands/members.js';
import type { NodeUpdate } from './commands/swarm.js';
import { infoCommand, nodeInspect, nodeLs, nodePs, nodeRm, nodeSetRole, nodeUpdate, swarmInit, swarmJoin, swarmJoinToken, swarmLeave, swarmUpdate } from './commands/swarm.js';
import { StatusError } from './format.js';
import { parseFormat } from './output.js';
import { registerNetworkCommands } from './commands/network.js';
import { registerServiceCommands } from './commands/service.js';

function hostOption(program: Command): string | undefined {
  return (program.opts() as { host?: string }).host ?? process.env[HOST_ENV];
}

function clientFor(program: Command): ApiClient {
  return new ApiClient(parseHost(hostOption(program)));
}

export function buildProgram(out: (s: string) => void = (s) => process.stdout.write(s + '\n')): Command {
  const program = new Command('shoal')
    .description('Overlay networking and a routing mesh for container clusters')
    .option('-H, --host <host>', `agent API socket, unix:///path (env ${HOST_ENV}; default unix:///run/shoal/shoal.sock)`)
    .version(packageVersion, '-v, --version', 'print the client version and exit')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('agent')
    .description('run the node agent (as root): API on -H, cluster membership, controllers')
    .option('--config <file>', 'JSON config file; flags and SHOAL_* environment variables override it')
    .option('--node-name <name>', 'name of this node in the cluster (default: hostname; env SHOAL_NODE_NAME)')
    .option('--advertise-addr <ip>', 'address other nodes reach this node at (env SHOAL_ADVERTISE_ADDR)')
    .option('--data-dir <dir>', 'where the agent keeps its state (default /var/lib/shoal; env SHOAL_DATA_DIR)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace (default info; env SHOAL_LOG_LEVEL)')
    .option('--log-format <format>', 'auto|json|pretty: auto is pretty on a terminal, JSON otherwise (env SHOAL_LOG_FORMAT)')
    .option('--runtime <runtime>', 'task runtime: auto|docker|exec (default auto; env SHOAL_RUNTIME)')
    .option('--lb-backend <backend>', 'load balancer for VIPs and the routing mesh: auto|ipvs|nftables (default auto: ipvs where the kernel has it; env SHOAL_LB_BACKEND)')
    .option('--join-pool <addrs>', 'interop mode: join an existing memberlist pool (e.g. Serf) at IP:PORT[,IP:PORT], no token (env SHOAL_JOIN_POOL)')
    .option('--gossip-key <base64>', 'gossip encryption key, as `serf agent -encrypt` takes (env SHOAL_GOSSIP_KEY)')
    .option('--gossip-port <port>', 'gossip port, UDP and TCP (default 7946; env SHOAL_GOSSIP_PORT)')
    .option('--dns-listen <ip:port>', 'operator DNS listener on this node, or none (default 127.0.0.11:53; env SHOAL_DNS_LISTEN)')
    .option('--dns-upstream <servers>', 'upstream resolvers for other names: IP[:PORT][,...], a resolv.conf path, or none (default /etc/resolv.conf; env SHOAL_DNS_UPSTREAM)')
    .option('--cleanup', 'do not run: remove what a stopped agent left running (tasks, overlay sandboxes, egress bridge), then exit')
    .action(async (flags: AgentFlags) => {
      // Loaded only here: the agent's modules take ~0.8 s to load (a minute in an emulated VM), and
      // every other command is a thin API client that does not need them.
      const { agentCommand } = await import('./commands/agent.js');
      await agentCommand(flags, hostOption(program));
    });

  program
    .command('version')
    .description("show the client's and the agent's version information")
    .option('-f, --format <format>', 'json for machine-readable output')
    .action(async (opts: { format?: string }) => {
      await versionCommand(clientFor(program), parseFormat(opts.format), out);
    });

  program
    .command('members')
    .description('list the members of the gossip pool this node is in, as this node sees them')
    .option('-f, --format <format>', 'json for machine-readable output')
    .action(async (opts: { format?: string }) => {
      await membersCommand(clientFor(program), parseFormat(opts.format), out);
    });

  const swarm = program.command('swarm').description('manage the swarm');
  swarm
    .command('init')
    .description('initialize a swarm: this node becomes its first manager')
    .option('--advertise-addr <ip>', 'address other nodes reach this node at')
    .option('--listen-addr <ip:port>', 'cluster management listen address (default 0.0.0.0:2377)')
    .option('--default-addr-pool <cidr>', 'address pool for overlay networks (repeatable; default 10.0.0.0/8)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--default-addr-pool-mask-length <n>', 'subnet size carved from the pool (default 24)')
    .option('--force-new-cluster', 'on a manager of a swarm that lost its majority: make it the only manager, keeping every object')
    .option('--cert-expiry <duration>', 'validity period for node certificates (ns|us|ms|s|m|h) (default 2160h0m0s)')
    .action(async (o: { advertiseAddr?: string; listenAddr?: string; defaultAddrPool?: string[]; defaultAddrPoolMaskLength?: string; forceNewCluster?: boolean; certExpiry?: string }) => {
      await swarmInit(clientFor(program), { ...o, maskLength: o.defaultAddrPoolMaskLength }, out);
    });
  swarm
    .command('join [host:port]')
    .description('join a swarm as a worker or manager (no host:port: find a manager of the token\'s swarm by mDNS on the local network)')
    .requiredOption('--token <token>', 'the SWMTKN-1-... token from `swarm join-token` on a manager')
    .option('--advertise-addr <ip>', 'address other nodes reach this node at')
    .option('--listen-addr <ip:port>', 'cluster management listen address')
    .action(async (remote: string | undefined, o: { token: string; advertiseAddr?: string; listenAddr?: string }) => {
      await swarmJoin(clientFor(program), o, remote, out);
    });
  swarm
    .command('join-token <worker|manager>')
    .description('print (or rotate) a join token')
    .option('-q, --quiet', 'only print the token')
    .option('--rotate', 'replace the token; the old one stops working for new joins')
    .action(async (role: string, o: { quiet?: boolean; rotate?: boolean }) => {
      await swarmJoinToken(clientFor(program), role, o, out);
    });
  swarm
    .command('update')
    .description('change the swarm: --cert-expiry sets how long node certificates are valid (every node renews within it, without a restart); --rotate-gossip-key replaces the gossip encryption key on every node')
    .option('--cert-expiry <duration>', 'validity period for node certificates (ns|us|ms|s|m|h) (default 2160h0m0s)')
    .option('--rotate-gossip-key', 'install a new key everywhere, switch to it, then retire the old one')
    .option('-d, --detach', 'return at once instead of waiting for the rotation to finish')
    .action(async (o: { rotateGossipKey?: boolean; detach?: boolean; certExpiry?: string }) => {
      await swarmUpdate(clientFor(program), o, out);
    });
  swarm
    .command('leave')
    .description('leave the swarm')
    .option('-f, --force', 'leave even as a manager')
    .action(async (o: { force?: boolean }) => {
      await swarmLeave(clientFor(program), o.force === true, out);
    });

  program
    .command('info')
    .description('show this node and its swarm')
    .option('-f, --format <format>', 'json for machine-readable output')
    .action(async (o: { format?: string }) => {
      await infoCommand(clientFor(program), parseFormat(o.format), out);
    });

  const node = program.command('node').description('manage swarm nodes');
  const collect = (v: string, acc: string[] = []) => [...acc, v];
  node
    .command('ls')
    .alias('list')
    .description('list the nodes in the swarm')
    .option('-q, --quiet', 'only node IDs')
    .option('-f, --filter <k=v>', 'id=ID, name=HOSTNAME (prefixes), role=manager|worker, node.label=KEY[=VALUE], label=KEY[=VALUE] (engine labels) (repeatable)', collect)
    .option('--format <format>', 'table (default), raw, a Go template (`table {{.Hostname}}\\t{{.Status}}`), or json for the API objects')
    .action(async (o: { format?: string; quiet?: boolean; filter?: string[] }) => {
      await nodeLs(clientFor(program), o, out);
    });
  node
    .command('inspect <node...>')
    .description('show one or more nodes in detail (a node is an ID, an ID prefix, a hostname or self)')
    .option('--pretty', 'human-friendly output')
    .option('-f, --format <format>', 'a Go template run on each node (`{{.Status.Addr}}`), json for compact JSON, or pretty')
    .action(async (names: string[], o: { pretty?: boolean; format?: string }) => {
      await nodeInspect(clientFor(program), names, o, out);
    });
  node
    .command('ps [node...]')
    .description('list the tasks on one or more nodes (default: this node, self)')
    .option('--no-trunc', 'do not shorten IDs, images and errors')
    .option('-q, --quiet', 'only task IDs')
    .option('-f, --filter <k=v>', 'desired-state=running|shutdown|accepted, id=ID (repeatable)', collect)
    .option('--format <format>', 'table (default), raw, a Go template (`table {{.Name}}\\t{{.Node}}`), or json for the API objects')
    .action(async (names: string[], o: { trunc: boolean; quiet?: boolean; filter?: string[]; format?: string }) => {
      await nodePs(clientFor(program), names, o, out);
    });
  node
    .command('update <node>')
    .description("change a node's availability, role or labels")
    .option('--availability <a>', 'active|pause|drain')
    .option('--role <role>', 'manager|worker')
    .option('--label-add <key=value>', 'add or change a label (repeatable)', collect)
    .option('--label-rm <key>', 'remove a label (repeatable)', collect)
    .action(async (name: string, o: NodeUpdate) => {
      await nodeUpdate(clientFor(program), name, o, out);
    });
  node
    .command('promote <node...>')
    .description('make nodes managers')
    .action(async (names: string[]) => {
      await nodeSetRole(clientFor(program), names, 'manager', out);
    });
  node
    .command('demote <node...>')
    .description('make managers workers')
    .action(async (names: string[]) => {
      await nodeSetRole(clientFor(program), names, 'worker', out);
    });
  node
    .command('rm <node...>')
    .alias('remove')
    .description('remove nodes from the swarm (they must be down, or --force)')
    .option('-f, --force', 'remove even a node that is up')
    .action(async (names: string[], o: { force?: boolean }) => {
      await nodeRm(clientFor(program), names, o.force === true, out);
    });

  registerNetworkCommands(program, () => clientFor(program), out);
  registerServiceCommands(program, () => clientFor(program), out);

  return program;
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and --version exit 0; usage errors were already printed by commander
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof StatusError) {
      // Docker's StatusError: the message as it is (template errors read "template parsing error: ...").
      process.stderr.write(`${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`Error: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}

await main(process.argv);
