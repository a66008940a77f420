// The membership view and its state machine: alive / suspect / dead / left per member, incarnation
// numbers, refutation of accusations about ourselves, Lifeguard suspicion timers, and the merge of
// a peer's full state (push-pull). It decides; it does not send: every update to spread goes to
// `broadcast`, and the engine (transport, probe, gossip) carries it. Rules follow memberlist's
// state.go as described in shared/reference/memberlist.md §3.1.
import { EventEmitter } from 'node:events';
import { Suspicion, suspicionMinMs, wantedConfirmations } from './suspicion.js';

export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

/** memberlist's numeric state codes in push-pull node states. */
export const STATE_CODES: Record<MemberState, number> = { alive: 0, suspect: 1, dead: 2, left: 3 };
export const STATE_BY_CODE: readonly MemberState[] = ['alive', 'suspect', 'dead', 'left'];

/** [PMin, PMax, PCur, DMin, DMax, DCur] as memberlist's Vsn. */
export type Vsn = [number, number, number, number, number, number];

export interface Member {
  name: string;
  addr: string;
  port: number;
  meta: Uint8Array;
  vsn: Vsn;
  incarnation: number;
  state: MemberState;
  /** When the state last changed (ms). */
  stateChange: number;
}

export interface AliveUpdate { name: string; addr: string; port: number; meta: Uint8Array; vsn: Vsn; incarnation: number }
export interface SuspectUpdate { name: string; incarnation: number; from: string }
export interface DeadUpdate { name: string; incarnation: number; from: string }
export type Update = ({ kind: 'alive' } & AliveUpdate) | ({ kind: 'suspect' } & SuspectUpdate) | ({ kind: 'dead' } & DeadUpdate);

export interface RemoteNodeState extends AliveUpdate { state: MemberState }

export interface MembersOptions {
  self: Omit<AliveUpdate, 'incarnation'>;
  /** Spreads an update (queued for gossip and piggybacking). */
  broadcast: (u: Update) => void;
  suspicionMult: number;
  suspicionMaxTimeoutMult: number;
  probeIntervalMs: number;
  /** Called when we refute an accusation: Lifeguard counts it against our own health. */
  onRefute?: () => void;
  now?: () => number;
}

export interface MemberEvents {
  join: [Member];
  leave: [Member];
  update: [Member];
}

export class Members extends EventEmitter<MemberEvents> {
  private readonly byName = new Map<string, Member>();
  private readonly suspicions = new Map<string, Suspicion>();
  private readonly now: () => number;
  private incarnation = 0;
  private leaving = false;

  constructor(private readonly opts: MembersOptions) {
    super();
    this.now = opts.now ?? Date.now;
    const self: Member = { ...opts.self, incarnation: this.nextIncarnation(), state: 'alive', stateChange: this.now() };
    this.byName.set(self.name, self);
  }

  get selfName(): string {
    return this.opts.self.name;
  }

  get self(): Member {
    return this.byName.get(this.selfName)!;
  }

  get(name: string): Member | undefined {
    return this.byName.get(name);
  }

  list(): Member[] {
    return [...this.byName.values()];
  }

  /** memberlist's estNumNodes: every entry, self and not yet reaped dead ones included. */
  get size(): number {
    return this.byName.size;
  }

  /** Announces ourselves (at start, and after a change of our meta). */
  announceSelf(meta?: Uint8Array): void {
    const self = this.self;
    if (meta) self.meta = meta;
    self.incarnation = this.nextIncarnation();
    this.opts.broadcast({ kind: 'alive', ...this.aliveOf(self) });
  }

  handleAlive(a: AliveUpdate): void {
    if (!validVsn(a.vsn)) return; // memberlist ignores alives with a bad version triple
    if (a.name === this.selfName) {
      this.aliveAboutSelf(a);
      return;
    }
    const current = this.byName.get(a.name);
    if (current) {
      const addressChanged = current.addr !== a.addr || current.port !== a.port;
      if (addressChanged && current.state !== 'left' && current.state !== 'dead') return; // a conflict: two nodes claim the name
      if (!addressChanged && a.incarnation <= current.incarnation) return; // equal is ignored, even while suspect
    }
    this.cancelSuspicion(a.name);
    const wasGone = !current || current.state === 'dead' || current.state === 'left';
    const metaChanged = current !== undefined && !sameBytes(current.meta, a.meta);
    const member: Member = { name: a.name, addr: a.addr, port: a.port, meta: a.meta, vsn: a.vsn, incarnation: a.incarnation, state: 'alive', stateChange: current && current.state === 'alive' ? current.stateChange : this.now() };
    this.byName.set(a.name, member);
    this.opts.broadcast({ kind: 'alive', ...a });
    if (wasGone) this.emit('join', member);
    else if (metaChanged) this.emit('update', member);
  }

  handleSuspect(s: SuspectUpdate): void {
    const current = this.byName.get(s.name);
    if (!current || s.incarnation < current.incarnation) return;
    if (s.name === this.selfName) {
      if (current.state === 'alive') this.refute(s.incarnation);
      return;
    }
    const existing = this.suspicions.get(s.name);
    if (existing) {
      if (existing.confirm(s.from)) this.opts.broadcast({ kind: 'suspect', ...s });
      return;
    }
    if (current.state !== 'alive') return;
    current.incarnation = s.incarnation;
    current.state = 'suspect';
    current.stateChange = this.now();
    this.opts.broadcast({ kind: 'suspect', ...s });
    this.startSuspicion(current, s.from);
  }

  handleDead(d: DeadUpdate): void {
    const current = this.byName.get(d.name);
    if (!current || d.incarnation < current.incarnation) return;
    this.cancelSuspicion(d.name);
    if (d.name === this.selfName) {
      if (!this.leaving) this.refute(d.incarnation);
      return;
    }
    if (current.state === 'dead' || current.state === 'left') return;
    current.incarnation = d.incarnation;
    current.state = d.from === d.name ? 'left' : 'dead';
    current.stateChange = this.now();
    this.opts.broadcast({ kind: 'dead', ...d });
    this.emit('leave', current);
  }

  /** Our suspicion of a member after a failed probe (the prober's own accusation). */
  suspect(name: string): void {
    const m = this.byName.get(name);
    if (m) this.handleSuspect({ name, incarnation: m.incarnation, from: this.selfName });
  }

  /** Merges a peer's push-pull state: alive as alive, left as a leave, dead or suspect only as a suspicion. */
  mergeRemoteState(nodes: readonly RemoteNodeState[]): void {
    for (const n of nodes) {
      switch (n.state) {
        case 'alive':
          this.handleAlive(n);
          break;
        case 'left':
          this.handleDead({ name: n.name, incarnation: n.incarnation, from: n.name });
          break;
        case 'dead':
        case 'suspect':
          this.handleSuspect({ name: n.name, incarnation: n.incarnation, from: this.selfName });
          break;
      }
    }
  }

  /** Our view for a push-pull. */
  localState(): RemoteNodeState[] {
    return this.list().map((m) => ({ ...this.aliveOf(m), state: m.state }));
  }

  /** Graceful leave: announce dead-from-self; refutation stops. */
  leave(): void {
    this.leaving = true;
    const self = this.self;
    self.state = 'left';
    this.opts.broadcast({ kind: 'dead', name: self.name, incarnation: self.incarnation, from: self.name });
  }

  /** Forgets dead and left members older than `olderThanMs` (memberlist reaps after GossipToTheDeadTime). */
  reap(olderThanMs: number): Member[] {
    const cutoff = this.now() - olderThanMs;
    const gone: Member[] = [];
    for (const m of this.byName.values()) {
      if (m.name !== this.selfName && (m.state === 'dead' || m.state === 'left') && m.stateChange <= cutoff) gone.push(m);
    }
    for (const m of gone) this.byName.delete(m.name);
    return gone;
  }

  stop(): void {
    for (const s of this.suspicions.values()) s.cancel();
    this.suspicions.clear();
  }

  private aliveAboutSelf(a: AliveUpdate): void {
    const self = this.self;
    if (a.incarnation < self.incarnation) return;
    if (a.incarnation === self.incarnation && sameBytes(a.meta, self.meta) && sameVsn(a.vsn, self.vsn)) return;
    this.refute(a.incarnation);
  }

  private refute(accusedIncarnation: number): void {
    let inc = this.nextIncarnation();
    if (accusedIncarnation >= inc) inc = this.incarnation = accusedIncarnation + 1;
    const self = this.self;
    self.incarnation = inc;
    self.state = 'alive';
    this.opts.onRefute?.();
    this.opts.broadcast({ kind: 'alive', ...this.aliveOf(self) });
  }

  private startSuspicion(m: Member, from: string): void {
    const n = this.size;
    const k = wantedConfirmations(this.opts.suspicionMult, n);
    const min = suspicionMinMs(this.opts.suspicionMult, n, this.opts.probeIntervalMs);
    const max = this.opts.suspicionMaxTimeoutMult * min;
    const changedAt = m.stateChange;
    const s = new Suspicion(from, k, min, max, () => {
      this.suspicions.delete(m.name);
      const cur = this.byName.get(m.name);
      if (cur && cur.state === 'suspect' && cur.stateChange === changedAt) {
        this.handleDead({ name: m.name, incarnation: cur.incarnation, from: this.selfName });
      }
    }, this.now);
    this.suspicions.set(m.name, s);
  }

  private cancelSuspicion(name: string): void {
    this.suspicions.get(name)?.cancel();
    this.suspicions.delete(name);
  }

  private nextIncarnation(): number {
    return ++this.incarnation;
  }

  private aliveOf(m: Member): AliveUpdate {
    return { name: m.name, addr: m.addr, port: m.port, meta: m.meta, vsn: m.vsn, incarnation: m.incarnation };
  }
}

export function validVsn(v: readonly number[]): v is Vsn {
  return v.length === 6 && v[0]! > 0 && v[1]! > 0 && v[0]! <= v[1]!;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameVsn(a: Vsn, b: Vsn): boolean {
  return a.every((x, i) => x === b[i]);
}
