// `shoal members`: the gossip pool as this node sees it, like `serf members`.
import type { ApiClient } from '../client.js';
import type { OutputFormat } from '../output.js';
import { table } from '../table.js';

export interface MemberView {
  Name: string;
  Addr: string;
  Port: number;
  Status: string;
  Incarnation: number;
  Protocol: number[];
}

export async function membersCommand(client: ApiClient, format: OutputFormat, out: (s: string) => void): Promise<void> {
  const members = (await client.get<MemberView[]>('/members')).body;
  if (format === 'json') {
    out(JSON.stringify(members, null, 2));
    return;
  }
  out(table(['NAME', 'ADDRESS', 'STATUS', 'INCARNATION'], members.map((m) => [m.Name, `${m.Addr}:${m.Port}`, m.Status, String(m.Incarnation)])));
}
