// Image references as Docker reads them: which registry a reference names (so the CLI can find that
// registry's credentials), and the exact reference to pull (a bare name means its `latest` tag, as
// swarmkit's executor asks for; a name alone would make the engine pull every tag).

/** The registry of references with no host part, and the key Docker's config.json files its credentials under. */
export const DOCKER_HUB = 'docker.io';
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

export interface ImageRef {
  /** Host[:port] of the registry: docker.io when the reference names none. */
  registry: string;
  /** The repository path after the registry (library/ is not added). */
  path: string;
  tag?: string;
  digest?: string;
}

/**
 * Splits a reference the way Docker's reference package does: the first component is a registry
 * when it has a '.' or ':', is `localhost`, or has upper-case letters; a tag follows the last ':'
 * after the last '/'; a digest follows '@'.
 */
export function parseImageRef(ref: string): ImageRef {
  let rest = ref.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  const isRegistry = slash >= 0 && (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase());
  return {
    registry: isRegistry ? first : DOCKER_HUB,
    path: isRegistry ? rest.slice(slash + 1) : rest,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/** The reference to pull: as given when it has a tag or digest, else with `:latest`. */
export function pullReference(ref: string): string {
  const r = parseImageRef(ref);
  return r.tag !== undefined || r.digest !== undefined ? ref.trim() : `${ref.trim()}:latest`;
}
