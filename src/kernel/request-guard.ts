// The deadline and the close of a netlink socket's requests, for the wrappers around the `netlink`
// package (rtnetlink, generic netlink): each request settles with its answer, with ETIMEDOUT when
// the kernel does not answer in time, or with EBADF as soon as the socket is closed (the package
// never settles requests cut off by close). The timers are ours, not the package's, so that close()
// leaves no timer keeping the process alive.
import { KernelError } from './errors.js';

export class RequestGuard {
  private closed = false;
  private readonly waiting = new Map<() => void, NodeJS.Timeout>();

  constructor(
    /** What the socket is, for the EBADF message ("the rtnetlink socket"). */
    private readonly what: string,
    private readonly timeoutMs: number,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  /** fn's result; ETIMEDOUT after timeoutMs, EBADF once close() is called. */
  run<T>(where: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new KernelError('EBADF', where, `${this.what} was closed`));
    return new Promise<T>((resolve, reject) => {
      const fail = (): void => reject(new KernelError('EBADF', where, `${this.what} was closed`));
      const timer = setTimeout(() => {
        this.waiting.delete(fail);
        reject(new KernelError('ETIMEDOUT', where, `no answer from the kernel in ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiting.set(fail, timer);
      let pending: Promise<T>;
      try {
        pending = fn();
      } catch (err) {
        pending = Promise.reject(err);
      }
      pending.then(resolve, reject).finally(() => {
        clearTimeout(timer);
        this.waiting.delete(fail);
      });
    });
  }

  /** Fails every request still waiting with EBADF, and every later one. Returns false if already closed. */
  close(): boolean {
    if (this.closed) return false;
    this.closed = true;
    for (const [fail, timer] of this.waiting) {
      clearTimeout(timer);
      fail();
    }
    this.waiting.clear();
    return true;
  }
}
