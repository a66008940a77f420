// Turns what the netlink package throws into errno-style codes. The package rejects with plain
// Error('Request rejected: EEXIST'): no errno or code fields, and the name comes from libuv, which
// knows only part of Linux's errno table (95 is 'ENOTSUP', and 524 or 74 come out as
// 'Unknown system error -524'). This file restores the Linux names. Pure; no kernel access.
import { getSystemErrorMap } from 'node:util';
import { KernelError, type KernelErrorCode } from './errors.js';

/** Linux errno numbers that libuv has no name for but rtnetlink can return (incl. kernel-internal ones that leak out). */
const LINUX_ONLY_ERRNO: Readonly<Record<number, [string, string]>> = {
  42: ['ENOMSG', 'no message of desired type'],
  62: ['ETIME', 'timer expired'],
  67: ['ENOLINK', 'link has been severed'],
  74: ['EBADMSG', 'bad message'],
  77: ['EBADFD', 'file descriptor in bad state'],
  96: ['EPFNOSUPPORT', 'protocol family not supported'],
  115: ['EINPROGRESS', 'operation now in progress'],
  116: ['ESTALE', 'stale file handle'],
  122: ['EDQUOT', 'disk quota exceeded'],
  126: ['ENOKEY', 'required key not available'],
  524: ['ENOTSUPP', 'operation not supported (kernel-internal ENOTSUPP)'],
  525: ['ETOOSMALL', 'buffer or request is too small'],
  527: ['EBADTYPE', 'type not supported by server'],
};

/** libuv names that differ from the ones iproute2 and the kernel headers use for the same number. */
const LINUX_NAME: Readonly<Record<string, string>> = {
  ENOTSUP: 'EOPNOTSUPP',
  EDEADLOCK: 'EDEADLK',
};

export interface NetlinkFailure {
  code: KernelErrorCode;
  /** Positive Linux errno, when one is known. */
  errno?: number;
  /** A short human description, e.g. 'file already exists'. */
  description: string;
}

/** Name and description for a positive Linux errno number. */
export function errnoName(errno: number): { code: string; description: string } {
  const own = LINUX_ONLY_ERRNO[errno];
  if (own) return { code: own[0], description: own[1] };
  const uv = getSystemErrorMap().get(-errno);
  if (uv) return { code: LINUX_NAME[uv[0]] ?? uv[0], description: uv[1] };
  return { code: 'EUNKNOWN', description: `errno ${errno}` };
}

function errnoOfName(name: string): number | undefined {
  for (const [num, [code]] of getSystemErrorMap()) if (code === name) return -num;
  for (const [num, [code]] of Object.entries(LINUX_ONLY_ERRNO)) if (code === name) return Number(num);
  return undefined;
}

/** What went wrong, from anything the netlink package (or our own code) threw. */
export function describeNetlinkError(err: unknown): NetlinkFailure {
  if (err instanceof KernelError) return { code: err.code, description: err.message };
  const e = err as { message?: unknown; code?: unknown; errno?: unknown } | null | undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);

  const rejected = /^Request rejected: (.+)$/.exec(message)?.[1];
  if (rejected !== undefined) return fromRejection(rejected);
  if (/Timeout has been reached/.test(message)) return { code: 'ETIMEDOUT', errno: 110, description: 'no answer from the kernel in time' };
  if (typeof e?.errno === 'number' && e.errno !== 0) {
    // An ErrnoException from the socket itself (send/recv), errno positive or negative.
    return withErrno(Math.abs(e.errno));
  }
  if (typeof e?.code === 'string' && /^E[A-Z0-9]+$/.test(e.code)) return { code: LINUX_NAME[e.code] ?? e.code, description: message };
  return { code: 'EUNKNOWN', description: message };
}

function fromRejection(what: string): NetlinkFailure {
  const unknown = /^Unknown system error -?(\d+)$/.exec(what)?.[1];
  if (unknown !== undefined) return withErrno(Number(unknown));
  if (/^-?\d+$/.test(what)) return withErrno(Math.abs(Number(what)));
  const num = errnoOfName(what);
  return num === undefined ? { code: what, description: what } : withErrno(num);
}

function withErrno(errno: number): NetlinkFailure {
  const { code, description } = errnoName(errno);
  return { code, errno, description };
}

/** The KernelError for a failed netlink operation; op names what failed, e.g. 'add link vx0 (vxlan) in node1'. */
export function netlinkError(err: unknown, op: string): KernelError {
  if (err instanceof KernelError) return err;
  const { code, description } = describeNetlinkError(err);
  return new KernelError(code, op, description);
}
