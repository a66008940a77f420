// When a node renews its certificate: a random point between 50 % and 80 % of its validity, at once
// when it outlives the cluster's --cert-expiry, retries with backoff after a failure (the old
// certificate staying in use), long waits taken in steps; run with an injected clock, random source
// and timers.
import { X509Certificate } from 'node:crypto';
import t from 'tap';
import { CertRenewer, certTimes, MAX_TIMER_MS, planRenewal, retryDelay, type CertTimes, type Timers } from '../../src/cluster/cert-renewal.js';
import { createCa, createKeyAndCsr, signNodeCsr } from '../../src/cluster/ca.js';
import { tunables } from '../../src/config/tunables.js';
import type { Logger } from '../../src/util/log.js';

const H = 3600_000;
const DAY = 24 * H;
const T0 = Date.parse('2026-12-01T00:00:00Z');

t.test('the plan: a point between 50 % and 80 % of the validity, chosen by the fraction', async (t) => {
  const cert = { serial: 'a', notBefore: T0, notAfter: T0 + 90 * DAY };
  const policy = 90 * DAY;
  t.same(planRenewal(cert, policy, T0 + H, 0), { at: T0 + 45 * DAY, reason: 'scheduled' }, 'fraction 0: half way');
  t.same(planRenewal(cert, policy, T0 + H, 1), { at: T0 + 72 * DAY, reason: 'scheduled' }, 'fraction 1: 80 %');
  t.same(planRenewal(cert, policy, T0 + H, 0.5), { at: T0 + 58.5 * DAY, reason: 'scheduled' }, 'in between: 65 %');
  t.same(planRenewal(cert, policy, T0 + 80 * DAY, 0.5).at, T0 + 58.5 * DAY, 'a point already past means now (the caller renews at once)');
  t.same(tunables.certRenewalWindow, [0.5, 0.8], 'the window is swarmkit\'s');
});

t.test('the plan: a certificate that outlives the cluster\'s expiry is renewed at once', async (t) => {
  const cert = { serial: 'a', notBefore: T0, notAfter: T0 + 90 * DAY };
  t.same(planRenewal(cert, H, T0 + 10_000, 0.3), { at: T0 + 10_000, reason: 'outlives-policy' }, '90 days left, policy 1 h: now');
  const fresh = { serial: 'b', notBefore: T0 - 5 * 60_000, notAfter: T0 + H };
  t.equal(planRenewal(fresh, H, T0 + 2_000, 0).reason, 'scheduled', 'a certificate just issued for 1 h is within a 1 h policy');
  t.equal(planRenewal({ ...fresh, notAfter: T0 + H + tunables.certPolicySlackMs - 1 }, H, T0, 0).reason, 'scheduled', 'within the slack (clocks a little apart) still counts as within');
  t.equal(planRenewal({ ...fresh, notAfter: T0 + H + tunables.certPolicySlackMs + 1 }, H, T0, 0).reason, 'outlives-policy', 'past the slack does not');
  t.equal(planRenewal(cert, 2160 * H, T0, 0).reason, 'scheduled', 'a longer policy does not make a shorter certificate renew early');
});

t.test('retries: 5 s, doubling, at most 2 min', async (t) => {
  t.same([1, 2, 3, 4, 5, 6, 7, 20].map(retryDelay), [5_000, 10_000, 20_000, 40_000, 80_000, 120_000, 120_000, 120_000]);
});

t.test('certTimes reads a real certificate; a 1 h certificate is valid from 5 min before signing to 1 h after', async (t) => {
  const ca = createCa();
  const { csrPem } = createKeyAndCsr();
  const before = Date.now();
  const pem = signNodeCsr(ca, csrPem, { nodeId: 'n1', role: 'worker', clusterId: 'c1', validityMs: H });
  const c = certTimes(pem);
  t.equal(c.serial, new X509Certificate(pem).serialNumber);
  t.ok(Math.abs(c.notAfter - (before + H)) < 3_000, `notAfter is signing time + 1 h (${new Date(c.notAfter).toISOString()})`);
  t.ok(Math.abs(c.notBefore - (before - 5 * 60_000)) < 3_000, 'notBefore is backdated 5 min');
});

/** A clock and timers that only move when the test says. */
function fakeTime(start: number): { now: () => number; timers: Timers; advance(ms: number): Promise<void>; pending(): number[] } {
  let now = start;
  let seq = 0;
  const due = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    timers: {
      set: (fn, ms) => { const id = ++seq; due.set(id, { at: now + ms, fn }); return id; },
      clear: (h) => void due.delete(h as number),
    },
    async advance(ms) {
      const end = now + ms;
      for (;;) {
        const next = [...due.entries()].filter(([, d]) => d.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!next) break;
        due.delete(next[0]);
        now = Math.max(now, next[1].at);
        next[1].fn();
        for (let i = 0; i < 10; i++) await Promise.resolve(); // let the renewal's promises settle
      }
      now = end;
    },
    pending: () => [...due.values()].map((d) => d.at - now),
  };
}

const quiet = { info() {}, warn() {}, debug() {}, error() {}, child() { return quiet; } } as unknown as Logger;

/** Certificates as JSON "PEM" the renewer reads with a test parser; each renewal issues one for `policy` from now. */
function harness(t: { teardown(fn: () => void): void }, o: { policyMs: number; first: CertTimes; fail?: () => string | undefined; random?: number }) {
  const clock = fakeTime(T0);
  let policy = o.policyMs;
  let current = JSON.stringify(o.first);
  const renewals: { at: number; failed?: string }[] = [];
  let serial = 0;
  const warnings: unknown[] = [];
  const log = { ...quiet, warn: (obj: unknown) => void warnings.push(obj) } as unknown as Logger;
  const renewer = new CertRenewer({
    current: () => current,
    policyMs: () => policy,
    renew: async () => {
      const failed = o.fail?.();
      renewals.push({ at: clock.now(), ...(failed ? { failed } : {}) });
      if (failed) throw new Error(failed);
      current = JSON.stringify({ serial: `s${++serial}`, notBefore: clock.now() - 5 * 60_000, notAfter: clock.now() + policy });
      return current;
    },
    log, now: clock.now, random: () => o.random ?? 0.5, timers: clock.timers, times: (pem) => JSON.parse(pem) as CertTimes,
  });
  renewer.start();
  t.teardown(() => renewer.stop());
  return { clock, renewer, renewals, warnings, cert: () => JSON.parse(current) as CertTimes, setPolicy: (ms: number) => { policy = ms; renewer.reschedule(); } };
}

t.test('renewer: renews at the planned point, then plans the next certificate', async (t) => {
  const h = harness(t, { policyMs: 10 * H, first: { serial: 's0', notBefore: T0, notAfter: T0 + 10 * H }, random: 0.5 });
  await h.clock.advance(6.5 * H - 1);
  t.equal(h.renewals.length, 0, 'not before 65 % of 10 h');
  await h.clock.advance(1);
  t.same(h.renewals.map((r) => r.at - T0), [6.5 * H], 'at 65 % (random 0.5)');
  t.equal(h.cert().serial, 's1');
  t.same(h.clock.pending(), [0.65 * (10 * H + 5 * 60_000) - 5 * 60_000], 'the next at 65 % of the new certificate (its 10 h and the 5 min it is backdated)');
});

t.test('renewer: a failure is retried with backoff, the old certificate staying in use', async (t) => {
  let failures = 3;
  const h = harness(t, { policyMs: 10 * H, first: { serial: 's0', notBefore: T0, notAfter: T0 + 10 * H }, random: 0, fail: () => (failures-- > 0 ? 'no manager signed a new certificate: node m1: connect ECONNREFUSED' : undefined) });
  await h.clock.advance(5 * H);
  t.equal(h.renewals.length, 1);
  t.equal(h.cert().serial, 's0', 'the old certificate is still the one in use');
  t.match(h.warnings[0], { err: /ECONNREFUSED/, attempt: 1, retryInMs: 5_000 }, 'the failure is logged with its reason and the retry');
  await h.clock.advance(5_000 + 10_000 + 20_000);
  t.same(h.renewals.map((r) => r.at - T0 - 5 * H), [0, 5_000, 15_000, 35_000], 'retried after 5, 10, 20 s');
  t.same(h.renewals.map((r) => r.failed !== undefined), [true, true, true, false]);
  t.equal(h.cert().serial, 's1', 'then renewed');
  t.same(h.clock.pending().length, 1, 'and the next renewal planned');
  h.setPolicy(10 * H);
  t.same(h.clock.pending().length, 1, 'one timer at a time');
});

t.test('renewer: a shorter --cert-expiry renews at once; the new certificate is then within it', async (t) => {
  const h = harness(t, { policyMs: 90 * DAY, first: { serial: 's0', notBefore: T0, notAfter: T0 + 90 * DAY } });
  await h.clock.advance(60_000);
  t.equal(h.renewals.length, 0, 'nothing to do under the 90-day policy yet');
  h.setPolicy(H);
  await h.clock.advance(0);
  t.same(h.renewals.map((r) => r.at - T0), [60_000], 'renewed as soon as the policy changed');
  t.ok(h.cert().notAfter - h.clock.now() <= H, 'within the hour now');
  await h.clock.advance(10 * 60_000);
  t.equal(h.renewals.length, 1, 'and not again: the new certificate is within the policy');
  h.setPolicy(2160 * H);
  await h.clock.advance(0);
  t.equal(h.renewals.length, 1, 'a longer policy renews nothing early');
});

t.test('renewer: a signer that keeps issuing certificates outliving the policy is not asked in a loop', async (t) => {
  const h = harness(t, { policyMs: H, first: { serial: 's0', notBefore: T0, notAfter: T0 + 90 * DAY } });
  // The signer's settings are behind: it issues 90-day certificates while this node's policy says 1 h.
  (h as unknown as { renewer: { o: { renew: () => Promise<string> } } }).renewer.o.renew = async () => {
    h.renewals.push({ at: h.clock.now() });
    return JSON.stringify({ serial: `x${h.renewals.length}`, notBefore: h.clock.now(), notAfter: h.clock.now() + 90 * DAY });
  };
  await h.clock.advance(60_000);
  t.same(h.renewals.map((r) => r.at - T0), [0, 5_000, 15_000, 35_000], 'asked again with backoff (5, 10, 20 s), not in a loop');
});

t.test('renewer: waits longer than setTimeout allows are taken in steps', async (t) => {
  const h = harness(t, { policyMs: 2160 * H, first: { serial: 's0', notBefore: T0, notAfter: T0 + 90 * DAY }, random: 0 });
  t.same(h.clock.pending(), [MAX_TIMER_MS], 'the first step is the longest timer there is (24.8 days), not the 45 days');
  await h.clock.advance(45 * DAY - 1);
  t.equal(h.renewals.length, 0);
  await h.clock.advance(1);
  t.same(h.renewals.map((r) => r.at - T0), [45 * DAY], 'renewed at 50 % of 90 days');
});

t.test('renewer: stop() cancels what is planned', async (t) => {
  const h = harness(t, { policyMs: H, first: { serial: 's0', notBefore: T0, notAfter: T0 + H } });
  h.renewer.stop();
  t.same(h.clock.pending(), []);
  await h.clock.advance(2 * H);
  t.equal(h.renewals.length, 0);
});
