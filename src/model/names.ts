// Names of cluster objects, checked as swarmkit's control API checks them (manager/controlapi), with
// Docker's exact error text, so that a name Docker accepts works here and one it refuses is refused in
// the same words. Services and networks (and stacks, whose services are `STACK_SERVICE`) are DNS name
// components: letters and digits, with '-' and '_' between them, at most 63 characters. Secrets and
// configs also allow '.', at most 64 characters.

/** swarmkit's isValidDNSName: no '.', and '-' or '_' only between letters and digits. */
const DNS_COMPONENT_RE = /^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$/;
/** swarmkit's isValidConfigOrSecretName. */
const SECRET_OR_CONFIG_RE = /^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$/;

/** gRPC's InvalidArgument as the Docker Engine API passes it through (HTTP 400). */
export class NameError extends Error {
  override readonly name = 'NameError';
  constructor(desc: string) {
    super(`rpc error: code = InvalidArgument desc = ${desc}`);
  }
}

/** The problem with a service or network name in Docker's words, or undefined when it is valid. */
export function objectNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name === '') return 'meta: name must be provided';
  if (!DNS_COMPONENT_RE.test(name)) return 'name must be valid as a DNS name component';
  if (name.length > 63) return 'name must be 63 characters or fewer';
  return undefined;
}

/** The problem with a secret or config name in Docker's words, or undefined when it is valid. */
export function secretNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name === '') return 'name must be provided';
  if (name.length > 64 || !SECRET_OR_CONFIG_RE.test(name)) return 'invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]';
  return undefined;
}

/** Throws NameError unless `name` is a valid service or network name. */
export function checkObjectName(name: unknown): asserts name is string {
  const problem = objectNameProblem(name);
  if (problem) throw new NameError(problem);
}

/** Throws NameError unless `name` is a valid secret or config name. */
export function checkSecretName(name: unknown): asserts name is string {
  const problem = secretNameProblem(name);
  if (problem) throw new NameError(problem);
}
