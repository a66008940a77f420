// Which tasks serve a service on a network right now: the one definition that the DNS answers
// (`tasks.<service>`, dnsrr) and the VIP load balancer share, so a name and its VIP always lead
// to the same set. A task counts once its node has plumbed it (its endpoint exists), while that
// node is not known to be down, while it should run and is running.
import type { ServiceRecord } from '../model/service.js';
import { effectiveStatus, type TaskRecord } from '../model/task.js';
import type { ClusterView } from './cluster-view.js';

export interface Backend {
  task: TaskRecord;
  /** Its address on the network, without the prefix length. */
  ip: string;
}

/** The running, plumbed tasks of each service on one network, sorted by task ID. */
export function backendsOn(view: ClusterView, networkId: string): Map<string, Backend[]> {
  const t = view.tables;
  const live = new Map<string, string>();
  for (const { value: e } of t.endpoints.list()) {
    if (e.networkId !== networkId || !e.taskId || view.nodeState(e.nodeId) === 'down') continue;
    live.set(e.taskId, e.ip);
  }
  const byService = new Map<string, Backend[]>();
  for (const { value: task } of t.tasks.list()) {
    const ip = live.get(task.id);
    if (ip === undefined || task.desiredState !== 'running') continue;
    if (effectiveStatus(task, t.taskStatus.get(task.id)?.value).state !== 'running') continue;
    byService.set(task.serviceId, [...(byService.get(task.serviceId) ?? []), { task, ip }]);
  }
  for (const list of byService.values()) list.sort((a, b) => a.task.id.localeCompare(b.task.id));
  return byService;
}

/** The services attached to a network, with their attachment (aliases). */
export function servicesOn(view: ClusterView, networkId: string): { svc: ServiceRecord; aliases: string[] }[] {
  const out: { svc: ServiceRecord; aliases: string[] }[] = [];
  for (const { value: svc } of view.tables.services.list()) {
    const attachment = svc.spec.TaskTemplate.Networks.find((n) => n.Target === networkId);
    if (attachment) out.push({ svc, aliases: attachment.Aliases ?? [] });
  }
  return out;
}

/** The service's virtual IP on the network (vip mode), without the prefix length. */
export function vipOn(view: ClusterView, serviceId: string, networkId: string): string | undefined {
  return view.tables.serviceEndpoints.get(serviceId)?.value.vips.find((v) => v.networkId === networkId)?.addr.split('/')[0];
}

/** The routing mesh's network, which has no names and no VIP load balancing inside tasks. */
export function ingressNetworkId(view: ClusterView): string | undefined {
  return view.tables.networks.list().find((n) => n.value.ingress)?.key;
}
