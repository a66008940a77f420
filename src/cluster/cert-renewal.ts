// When this node renews its certificate: at a random point between 50 % and 80 % of its validity
// (tunables.certRenewalWindow, as swarmkit), at once when it outlives the cluster's current
// --cert-expiry (so `swarm update --cert-expiry 1h` takes effect on every node within seconds), and
// after a failure again with exponential backoff, the old certificate staying in use meanwhile. The
// policy is pure (planRenewal, retryDelay); CertRenewer runs it with an injected clock, random source
// and timers, and calls `renew`, which the swarm supplies (a new key, a CSR, a manager's signature,
// the files replaced and every user of them switched over).
import { X509Certificate } from 'node:crypto';
import { tunables } from '../config/tunables.js';
import type { Logger } from '../util/log.js';

/** What the schedule needs of a certificate. */
export interface CertTimes {
  serial: string;
  notBefore: number;
  notAfter: number;
}

export function certTimes(pem: string): CertTimes {
  const c = new X509Certificate(pem);
  return { serial: c.serialNumber, notBefore: Date.parse(c.validFrom), notAfter: Date.parse(c.validTo) };
}

export interface RenewalPlan {
  /** When to renew (epoch ms; at or before `now` means now). */
  at: number;
  reason: 'outlives-policy' | 'scheduled';
}

/**
 * When to renew `cert`: `fraction` (drawn once per certificate, in [0, 1)) picks the point inside the
 * renewal window of its validity; a certificate that outlives the cluster's policy by more than the
 * slack is renewed now.
 */
export function planRenewal(cert: CertTimes, policyMs: number, now: number, fraction: number): RenewalPlan {
  if (cert.notAfter - now > policyMs + tunables.certPolicySlackMs) return { at: now, reason: 'outlives-policy' };
  const [lo, hi] = tunables.certRenewalWindow;
  const share = lo + (hi - lo) * Math.min(Math.max(fraction, 0), 1);
  return { at: cert.notBefore + Math.floor((cert.notAfter - cert.notBefore) * share), reason: 'scheduled' };
}

/** The wait before retry number `attempt` (1, 2, ...) after failed renewals: doubling from the base, capped. */
export function retryDelay(attempt: number): number {
  return Math.min(tunables.certRenewalRetryBaseMs * 2 ** Math.max(0, attempt - 1), tunables.certRenewalRetryMaxMs);
}

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

/** setTimeout takes at most 2^31-1 ms (24.8 days); a longer wait is taken in steps, the plan redone after each. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface CertRenewerOptions {
  /** This node's certificate now (PEM). */
  current(): string;
  /** The cluster's --cert-expiry now, in ms. */
  policyMs(): number;
  /** Gets and installs a new certificate; resolves with it (PEM). Throws with the reason on failure. */
  renew(): Promise<string>;
  log: Logger;
  now?: () => number;
  random?: () => number;
  timers?: Timers;
  /** Reads a certificate's serial and dates (default certTimes; tests give their own). */
  times?: (pem: string) => CertTimes;
}

export class CertRenewer {
  private timer: unknown;
  private running = false;
  private stopped = true;
  private failures = 0;
  /** The random point in the window, drawn once per certificate (a settings change must not redraw it). */
  private drawn: { serial: string; fraction: number } | undefined;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly timers: Timers;
  private readonly times: (pem: string) => CertTimes;

  constructor(private readonly o: CertRenewerOptions) {
    this.times = o.times ?? certTimes;
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    this.timers = o.timers ?? realTimers;
  }

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }

  /** The policy may have changed (the cluster settings did): plan again, unless a renewal or its retry is under way. */
  reschedule(): void {
    if (this.stopped || this.running || this.failures > 0) return;
    this.schedule();
  }

  /** The plan for the current certificate (for logs and tests). */
  plan(): RenewalPlan {
    const cert = this.times(this.o.current());
    if (this.drawn?.serial !== cert.serial) this.drawn = { serial: cert.serial, fraction: this.random() };
    return planRenewal(cert, this.o.policyMs(), this.now(), this.drawn.fraction);
  }

  private schedule(): void {
    this.clearTimer();
    let plan: RenewalPlan;
    try {
      plan = this.plan();
    } catch (err) {
      this.o.log.error({ err: (err as Error).message }, 'cannot read this node\'s certificate to plan its renewal');
      return this.retryLater(err as Error, 'scheduled');
    }
    const wait = Math.max(0, plan.at - this.now());
    if (wait > MAX_TIMER_MS) {
      this.setTimer(() => this.schedule(), MAX_TIMER_MS);
      return;
    }
    this.o.log.debug({ renewAt: new Date(plan.at).toISOString(), reason: plan.reason }, 'node certificate renewal planned');
    this.setTimer(() => void this.run(plan.reason), wait);
  }

  private async run(reason: RenewalPlan['reason']): Promise<void> {
    if (this.stopped || this.running) return;
    this.running = true;
    const before = this.times(this.o.current());
    this.o.log.info({ reason, serial: before.serial, notAfter: new Date(before.notAfter).toISOString(), policyMs: this.o.policyMs() }, 'renewing this node\'s certificate');
    try {
      const after = this.times(await this.o.renew());
      this.o.log.info({ serial: after.serial, notAfter: new Date(after.notAfter).toISOString() }, 'renewed this node\'s certificate');
      this.running = false;
      if (this.stopped) return;
      // A manager whose copy of the settings is behind may sign for longer than the policy: asking again
      // at once would loop, so that counts as a failure (backoff) until a certificate within it comes.
      if (planRenewal(after, this.o.policyMs(), this.now(), 0).reason === 'outlives-policy') {
        return this.retryLater(new Error(`the new certificate (valid until ${new Date(after.notAfter).toISOString()}) still outlives the cluster's --cert-expiry: the signing manager's settings may be behind`), reason);
      }
      this.failures = 0;
      this.schedule();
    } catch (err) {
      this.running = false;
      if (!this.stopped) this.retryLater(err as Error, reason);
    }
  }

  private retryLater(err: Error, reason: RenewalPlan['reason']): void {
    this.failures++;
    const delay = retryDelay(this.failures);
    this.o.log.warn({ err: err.message, attempt: this.failures, retryInMs: delay }, 'could not renew this node\'s certificate; it keeps using the current one and retries');
    this.setTimer(() => void this.run(reason), delay);
  }

  private setTimer(fn: () => void, ms: number): void {
    this.clearTimer();
    this.timer = this.timers.set(() => { this.timer = undefined; fn(); }, ms);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.timers.clear(this.timer);
    this.timer = undefined;
  }
}
