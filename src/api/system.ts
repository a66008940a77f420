// System endpoints, as the Docker Engine API answers them: GET/HEAD /_ping and GET /version.
import { arch, release } from 'node:os';
import { defaults } from '../config/defaults.js';
import { packageVersion } from '../util/paths.js';
import type { Router } from './router.js';

const GO_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' };

/** What the API reports about this build; GitCommit is baked in by the build when known. */
export function versionInfo(startedAt: Date) {
  const details = {
    ApiVersion: defaults.apiVersion,
    Arch: GO_ARCH[arch()] ?? arch(),
    BuildTime: startedAt.toISOString(),
    Experimental: 'false',
    GitCommit: process.env.SHOAL_GIT_COMMIT ?? 'unknown',
    // Docker reports its Go toolchain here; shoal's runtime is Node.js, reported in the same field so Docker clients show it.
    GoVersion: `node${process.versions.node}`,
    KernelVersion: release(),
    MinAPIVersion: defaults.minApiVersion,
    Os: 'linux',
  };
  return {
    Platform: { Name: 'shoal' },
    Components: [{ Name: 'Engine', Version: packageVersion, Details: details }],
    Version: packageVersion,
    ...details,
    Experimental: false, // a bool at the top level, a string in Details, as dockerd sends it
  };
}

/** Headers every response carries, like dockerd's. */
export function commonHeaders(): Record<string, string> {
  return {
    'Api-Version': defaults.apiVersion,
    'Docker-Experimental': 'false',
    Ostype: 'linux',
    Server: `shoal/${packageVersion} (linux)`,
  };
}

export function addSystemRoutes(router: Router, startedAt: Date): void {
  const ping = () => ({
    headers: { 'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache', Swarm: 'inactive' },
    body: 'OK',
  });
  router.add('GET', '/_ping', ping);
  router.add('HEAD', '/_ping', ping);
  router.add('GET', '/version', () => ({ body: versionInfo(startedAt) }));
}
