// `shoal version`: the client's and the agent's versions, like `docker version`.
import { arch } from 'node:os';
import { defaults } from '../../config/defaults.js';
import { packageVersion } from '../../util/paths.js';
import type { versionInfo } from '../../api/system.js';
import type { ApiClient } from '../client.js';
import { keyValueBlock, type OutputFormat } from '../output.js';

type ServerVersion = ReturnType<typeof versionInfo>;

const GO_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };

function clientInfo() {
  return { Version: packageVersion, ApiVersion: defaults.apiVersion, NodeVersion: process.version, Os: 'linux', Arch: GO_ARCH[arch()] ?? arch() };
}

export async function versionCommand(client: ApiClient, format: OutputFormat, out: (s: string) => void): Promise<void> {
  const c = clientInfo();
  let server: ServerVersion | undefined;
  let failure: Error | undefined;
  try {
    server = (await client.get<ServerVersion>('/version')).body;
  } catch (err) {
    failure = err as Error;
  }
  if (format === 'json') {
    out(JSON.stringify({ Client: c, Server: server ?? null }, null, 2));
  } else {
    out(keyValueBlock('Client:', [
      ['Version', c.Version],
      ['API version', c.ApiVersion],
      ['Node.js version', c.NodeVersion],
      ['OS/Arch', `${c.Os}/${c.Arch}`],
    ]));
    if (server) {
      out('');
      out(`Server: ${server.Platform.Name}`);
      out(keyValueBlock(' Engine:', [
        ['Version', server.Version],
        ['API version', `${server.ApiVersion} (minimum version ${server.MinAPIVersion})`],
        ['Node.js version', server.GoVersion],
        ['Git commit', server.GitCommit],
        ['Started', server.BuildTime],
        ['OS/Arch', `${server.Os}/${server.Arch}`],
        ['Kernel version', server.KernelVersion],
      ], '  ', 18));
    }
  }
  if (failure) throw failure;
}
