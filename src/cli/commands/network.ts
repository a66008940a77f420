// `shoal network create|ls|inspect|rm`, printing what Docker prints.
import type { Command } from 'commander';
import type { ApiClient } from '../client.js';
import { emit, listFormat, printInspect, renderList } from '../format.js';
import { naturalLess, networkHeaders, networkListFormats, networkRow } from '../rows.js';
import { NetworkType } from '../template/docker-types.js';

type Out = (s: string) => void;

interface NetworkJson { Id: string; Name: string; Driver: string; Scope: string }

const collect = (v: string, acc: string[] = []) => [...acc, v];

function keyValues(list: string[] | undefined, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new Error(`invalid ${what} '${kv}': use key=value`);
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

export function registerNetworkCommands(program: Command, client: () => ApiClient, out: Out): void {
  const network = program.command('network').description('manage overlay networks');
  network
    .command('create <name>')
    .description('create an overlay network')
    .option('-d, --driver <driver>', 'network driver (overlay)', 'overlay')
    .option('--subnet <cidr>', 'subnet, e.g. 10.0.9.0/24 (default: the next free one of the address pool)')
    .option('--gateway <ip>', 'gateway address in the subnet (default: its first address)')
    .option('--attachable', 'let standalone containers attach')
    .option('--ingress', 'make it the routing mesh network (only one may exist)')
    .option('-o, --opt <key=value>', 'driver option, e.g. mtu=1400 (repeatable)', collect)
    .option('--label <key=value>', 'network label (repeatable)', collect)
    .action(async (name: string, o: { driver: string; subnet?: string; gateway?: string; attachable?: boolean; ingress?: boolean; opt?: string[]; label?: string[] }) => {
      const r = await client().request<{ Id: string; Warning?: string }>('POST', '/networks/create', {
        Name: name, Driver: o.driver, Attachable: o.attachable === true, Ingress: o.ingress === true, CheckDuplicate: true,
        IPAM: { Driver: 'default', Config: o.subnet || o.gateway ? [{ Subnet: o.subnet, Gateway: o.gateway }] : [] },
        Options: keyValues(o.opt, 'option'), Labels: keyValues(o.label, 'label'),
      });
      if (r.body.Warning) process.stderr.write(`WARNING: ${r.body.Warning}\n`);
      out(r.body.Id);
    });
  network
    .command('ls')
    .alias('list')
    .description('list networks')
    .option('-q, --quiet', 'only network IDs')
    .option('--no-trunc', 'do not shorten network IDs')
    .option('--format <format>', 'table (default), raw, a Go template (`table {{.ID}}\\t{{.Name}}\\t{{.Labels}}`), or json for the API objects')
    .action(async (o: { quiet?: boolean; trunc: boolean; format?: string }) => {
      const nets = (await client().get<NetworkJson[]>('/networks')).body;
      if (o.format === 'json') return out(JSON.stringify(nets, null, 2));
      const rows = [...nets].sort((a, b) => naturalLess(a.Name, b.Name)).map((n) => networkRow(n, o.trunc));
      emit(out, renderList(listFormat(o.format, o.quiet === true, networkListFormats), rows, networkHeaders));
    });
  network
    .command('inspect <network...>')
    .description('show networks in detail (a network is its name, ID or a unique ID prefix)')
    .option('-f, --format <format>', 'a Go template run on each network (`{{range .IPAM.Config}}{{.Subnet}}{{end}}`), or json for compact JSON')
    .action(async (names: string[], o: { format?: string }) => {
      const found: unknown[] = [];
      const missing: string[] = [];
      for (const n of names) {
        try {
          found.push((await client().get(`/networks/${encodeURIComponent(n)}`)).body);
        } catch (err) {
          missing.push(`Error: ${(err as Error).message}`);
        }
      }
      printInspect(out, o.format, found, NetworkType, missing);
    });
  network
    .command('rm <network...>')
    .alias('remove')
    .description('remove networks (refused while a service or task uses them)')
    .action(async (names: string[]) => {
      for (const n of names) {
        await client().request('DELETE', `/networks/${encodeURIComponent(n)}`);
        out(n);
      }
    });
}
