// The CLI's side of `--with-registry-auth`: the credentials the docker client keeps for an image's
// registry (its config file, $DOCKER_CONFIG/config.json else ~/.docker/config.json, or the credential
// helper that file names), encoded as the X-Registry-Auth header Docker's CLI sends with service
// create and update. With no credentials stored it sends just the server address, as Docker does.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DOCKER_HUB, DOCKER_HUB_AUTH_KEY, parseImageRef } from '../model/image-ref.js';
import { encodeRegistryAuth, type RegistryAuth } from '../model/registry-auth.js';

export interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string; email?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** Runs `docker-credential-NAME get` for a server; undefined when the helper has nothing for it. */
export type CredentialHelper = (name: string, server: string) => { Username: string; Secret: string } | undefined;

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json');
}

/** The docker client's config file; an empty one when there is none. */
export function readDockerConfig(path: string): DockerConfigFile {
  if (!existsSync(path)) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read the docker client's config ${path} for --with-registry-auth: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${path} is not a JSON object: cannot read registry credentials from it`);
  return parsed as DockerConfigFile;
}

/** Docker's ConvertToHostname: a config key without its scheme and path (`https://host:5000/v1/` is `host:5000`). */
export function hostOfKey(key: string): string {
  return key.replace(/^[a-z]+:\/\//i, '').split('/')[0]!;
}

const HUB_HOSTS = new Set([DOCKER_HUB, 'index.docker.io', 'registry-1.docker.io']);

/** The credentials for a registry (host[:port], docker.io for Docker Hub) from a parsed config file. */
export function credentialsFor(registry: string, config: DockerConfigFile, helper: CredentialHelper = runCredentialHelper): RegistryAuth {
  const hub = HUB_HOSTS.has(registry);
  const server = hub ? DOCKER_HUB_AUTH_KEY : registry;
  const helperName = config.credHelpers?.[hub ? DOCKER_HUB : registry] ?? config.credsStore;
  if (helperName) {
    const got = helper(helperName, server);
    if (got) return got.Username === '<token>' ? { identitytoken: got.Secret, serveraddress: server } : { username: got.Username, password: got.Secret, serveraddress: server };
    return { serveraddress: server };
  }
  const key = Object.keys(config.auths ?? {}).find((k) => (hub ? HUB_HOSTS.has(hostOfKey(k)) : hostOfKey(k) === registry));
  const entry = key === undefined ? undefined : config.auths![key]!;
  if (!entry) return { serveraddress: server };
  const out: RegistryAuth = { serveraddress: server };
  if (entry.auth) {
    const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    if (colon < 0) throw new Error(`the docker client's credentials for ${registry} are damaged (auth is not base64 of user:password); run \`docker login ${hub ? '' : registry}\` again`);
    out.username = plain.slice(0, colon);
    out.password = plain.slice(colon + 1);
  } else {
    if (entry.username) out.username = entry.username;
    if (entry.password) out.password = entry.password;
  }
  if (entry.identitytoken) out.identitytoken = entry.identitytoken;
  if (entry.email) out.email = entry.email;
  return out;
}

/** The X-Registry-Auth value for an image: its registry's credentials from the docker client's config. */
export function registryAuthHeader(image: string, env: NodeJS.ProcessEnv = process.env, helper?: CredentialHelper): string {
  return encodeRegistryAuth(credentialsFor(parseImageRef(image).registry, readDockerConfig(dockerConfigPath(env)), helper));
}

function runCredentialHelper(name: string, server: string): { Username: string; Secret: string } | undefined {
  const bin = `docker-credential-${name}`;
  const r = spawnSync(bin, ['get'], { input: server, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`the docker client's config names the credential helper ${bin}, which could not run: ${r.error.message}`);
  if (r.status !== 0) {
    if (/credentials not found/i.test(r.stdout + r.stderr)) return undefined;
    throw new Error(`${bin} get ${server} failed: ${(r.stdout || r.stderr).trim()}`);
  }
  const v = JSON.parse(r.stdout) as { Username?: unknown; Secret?: unknown };
  return typeof v.Username === 'string' && typeof v.Secret === 'string' ? { Username: v.Username, Secret: v.Secret } : undefined;
}
