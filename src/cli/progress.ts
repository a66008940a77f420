// Docker's `service create/update/scale` progress display: one line per slot (or node) with its
// task's state and a bar, "overall progress: N out of M tasks", then "verify: Service converged"
// once every slot runs the current spec and stays so for a moment. On a terminal the lines are
// redrawn in place; otherwise each change is printed once. When the service cannot converge (every
// missing task is unplaceable, or keeps failing), it says why and stops waiting.
import type { ApiClient } from './client.js';

/** Docker's numbered states: the bar is state/running of its width. */
const STEPS = ['new', 'allocated', 'pending', 'assigned', 'accepted', 'preparing', 'ready', 'starting', 'running'];
const BAR = 50;
/** How long every slot must stay running before "converged" (Docker waits 5 s; most crashes show sooner). */
export const VERIFY_MS = 2_000;
/** How long a service may look stuck (unplaceable or crash-looping) before we say it cannot converge. */
export const STUCK_MS = 4_000;
const POLL_MS = 250;

interface TaskJson { ID: string; Slot?: number; NodeID: string; NodeName?: string; DesiredState: string; Spec: unknown; CreatedAt: string; Status: { State: string; Err?: string; Message: string } }
interface ServiceJson { ID: string; Spec: { Name: string; Mode: { Replicated?: { Replicas: number }; Global?: object }; TaskTemplate: unknown } }

export interface SlotLine {
  label: string;
  state: string;
  err?: string;
  /** The task runs the service's current spec. */
  current: boolean;
  /** Recent tasks of this slot that failed or were rejected, newest first, without a running one since. */
  failures: number;
}

export interface Snapshot {
  slots: SlotLine[];
  running: number;
  desired: number;
  converged: boolean;
  /** Why it cannot converge, when every missing task is pending with a reason or crash-looping. */
  stuck: string[] | undefined;
}

/** What the display shows for a service, from its tasks (pure; exported for tests). */
export function snapshot(svc: ServiceJson, tasks: TaskJson[]): Snapshot {
  const spec = JSON.stringify(svc.Spec.TaskTemplate);
  const global = svc.Spec.Mode.Global !== undefined;
  const groups = new Map<string, TaskJson[]>();
  for (const t of tasks) {
    const key = global ? t.NodeID : String(t.Slot ?? 0);
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  const replicas = svc.Spec.Mode.Replicated?.Replicas ?? 0;
  const keys = global ? [...groups.keys()].filter((k) => groups.get(k)!.some((t) => t.DesiredState === 'running')).sort() : Array.from({ length: replicas }, (_, i) => String(i + 1));
  const slots = keys.map((key): SlotLine => {
    const all = (groups.get(key) ?? []).sort((a, b) => b.CreatedAt.localeCompare(a.CreatedAt));
    const active = all.find((t) => t.DesiredState === 'running');
    const shown = active ?? all[0];
    const label = global ? (shown?.NodeName || key.slice(0, 12)) : `${key}/${replicas}`;
    let failures = 0;
    for (const t of all) {
      if (t.Status.State === 'running') break;
      if (t.Status.State === 'failed' || t.Status.State === 'rejected') failures++;
    }
    if (!shown) return { label, state: 'new', current: false, failures };
    const err = shown.Status.Err;
    return { label, state: shown.Status.State, ...(err ? { err } : {}), current: JSON.stringify(shown.Spec) === spec && shown.DesiredState === 'running', failures };
  });
  const running = slots.filter((s) => s.state === 'running' && s.current).length;
  const extra = tasks.some((t) => t.DesiredState === 'running' && !global && (t.Slot ?? 0) > replicas && t.Status.State === 'running');
  const desired = slots.length;
  const missing = slots.filter((s) => !(s.state === 'running' && s.current));
  const stuckReasons = missing.map((s) => (s.state === 'pending' && s.err ? `${s.label}: ${s.err}` : s.failures >= 3 ? `${s.label}: ${s.err ?? 'keeps failing'} (${s.failures} failures in a row)` : undefined));
  return { slots, running, desired, converged: missing.length === 0 && !extra && (global || desired === replicas), stuck: missing.length > 0 && stuckReasons.every((r) => r !== undefined) ? (stuckReasons as string[]) : undefined };
}

function bar(state: string): string {
  const i = STEPS.indexOf(state);
  if (i < 0) return '';
  const filled = Math.round(((i + 1) / STEPS.length) * BAR);
  return `[${'='.repeat(Math.max(0, filled - 1))}>${' '.repeat(BAR - filled)}]`;
}

function render(s: Snapshot): string[] {
  const width = Math.max(0, ...s.slots.map((x) => x.label.length));
  return [`overall progress: ${s.running} out of ${s.desired} tasks`, ...s.slots.map((x) => `${x.label.padEnd(width)}: ${x.err && x.state !== 'running' ? x.err : `${x.state.padEnd(9)} ${bar(x.state)}`}`)];
}

export class ConvergeError extends Error {
  override readonly name = 'ConvergeError';
}

/** Shows progress until the service converges; throws ConvergeError saying why when it cannot. */
export async function waitForConvergence(client: ApiClient, serviceId: string, out: (s: string) => void, opts: { tty?: boolean; timeoutMs?: number } = {}): Promise<void> {
  const tty = opts.tty ?? process.stdout.isTTY === true;
  const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
  let drawn: string[] = [];
  let convergedSince: number | undefined;
  let stuckSince: number | undefined;
  const show = (lines: string[]) => {
    if (tty) {
      process.stdout.write((drawn.length > 0 ? `\x1b[${drawn.length}F` : '') + lines.map((l) => `\x1b[2K${l}`).join('\n') + '\n');
    } else {
      for (const l of lines.slice(1)) if (!drawn.includes(l)) out(l);
    }
    drawn = lines;
  };
  for (;;) {
    const svc = (await client.get<ServiceJson>(`/services/${serviceId}`)).body;
    const tasks = (await client.get<TaskJson[]>(`/tasks?filters=${encodeURIComponent(JSON.stringify({ service: [serviceId] }))}`)).body;
    const s = snapshot(svc, tasks);
    const now = Date.now();
    show(render(s));
    convergedSince = s.converged ? (convergedSince ?? now) : undefined;
    stuckSince = s.stuck ? (stuckSince ?? now) : undefined;
    if (convergedSince !== undefined && now - convergedSince >= VERIFY_MS) {
      if (!tty) out(render(s)[0]!);
      out('verify: Service converged');
      return;
    }
    if (stuckSince !== undefined && now - stuckSince >= STUCK_MS) {
      if (!tty) out(render(s)[0]!);
      throw new ConvergeError(`service ${svc.Spec.Name} cannot converge:\n  ${s.stuck!.join('\n  ')}\nIt stays as it is and the swarm keeps trying; fix the cause, or remove it with \`shoal service rm ${svc.Spec.Name}\`.`);
    }
    if (now > deadline) throw new ConvergeError(`service ${svc.Spec.Name} has not converged after ${Math.round((opts.timeoutMs ?? 300_000) / 1000)} s (${s.running} of ${s.desired} tasks running); it goes on in the background`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
