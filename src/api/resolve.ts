// Finding an object the way Docker's CLI lets users name it: full ID, name, or a unique ID prefix.
// An exact ID wins, then an exact name; a prefix must match one object only.
import { ApiError } from './http.js';

export function resolveByName<T>(items: readonly T[], name: string, idOf: (x: T) => string, nameOf: (x: T) => string, kind: string): T {
  const byId = items.find((x) => idOf(x) === name);
  if (byId) return byId;
  const byName = items.filter((x) => nameOf(x) === name);
  if (byName.length === 1) return byName[0]!;
  const byPrefix = items.filter((x) => idOf(x).startsWith(name));
  if (byName.length > 1 || byPrefix.length > 1) throw new ApiError(400, `${kind} ${name} is ambiguous (${Math.max(byName.length, byPrefix.length)} matches found)`);
  if (byPrefix.length === 1) return byPrefix[0]!;
  throw new ApiError(404, `${kind} ${name} not found`);
}
