// Typed kernel errors: every failure from netlink, a syscall or nft carries an errno-style code
// (EEXIST, ENOENT, EPERM, ...) and names the operation that failed.
export type KernelErrorCode =
  | 'EEXIST' | 'ENOENT' | 'EPERM' | 'EACCES' | 'EINVAL' | 'EBUSY' | 'ENODEV' | 'ENOBUFS' | 'EOPNOTSUPP'
  | 'ENETUNREACH' | 'EADDRNOTAVAIL' | 'EAFNOSUPPORT' | 'ERANGE' | 'ENOSPC' | 'ENOTEMPTY' | 'EPROTONOSUPPORT'
  | 'ETIMEDOUT' | 'E2BIG' | 'ENOTSUP' | 'EUNKNOWN' | (string & {});

export class KernelError extends Error {
  override readonly name = 'KernelError';
  constructor(
    readonly code: KernelErrorCode,
    readonly op: string,
    detail?: string,
  ) {
    super(detail === undefined ? `${op}: ${code}` : detail.includes(code) ? `${op}: ${detail}` : `${op}: ${detail} (${code})`);
  }
}

export function isKernelError(err: unknown, code?: KernelErrorCode): err is KernelError {
  return err instanceof KernelError && (code === undefined || err.code === code);
}

/** Wraps whatever a lower layer threw (netlink's "Request rejected: EEXIST", a Node errno error) as a KernelError. */
export function toKernelError(err: unknown, op: string): KernelError {
  if (err instanceof KernelError) return err;
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const fromMessage = /\b(E[A-Z0-9]{2,})\b/.exec(message)?.[1];
  const code = typeof e?.code === 'string' && /^E[A-Z0-9]+$/.test(e.code) ? e.code : (fromMessage ?? 'EUNKNOWN');
  return new KernelError(code, op, message);
}
