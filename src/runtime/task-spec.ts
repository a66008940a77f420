// What both runtimes do the same way with a TaskRunSpec: check it, compute the labels on what they
// make, the hostname, and the contents of the task's resolv.conf and hosts files (including the
// own-hostname lines that attach() adds and detach() removes, tagged with the bridge-side veth).
import { readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import {
  LABEL_MANAGED,
  LABEL_NODE,
  LABEL_SERVICE_ID,
  LABEL_SERVICE_NAME,
  LABEL_TASK,
  LABEL_TASK_NAME,
  RuntimeError,
  type TaskRunSpec,
} from './runtime.js';

/** Task IDs become file and namespace names: letters, digits, '_', '.', '-'; at most 56 characters. */
const TASK_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,55}$/;
/** Docker's rule for container names. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const HOSTNAME_RE = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function invalid(spec: Pick<TaskRunSpec, 'taskId'>, problem: string): RuntimeError {
  return new RuntimeError(`task ${spec.taskId || '(no id)'}: ${problem}`, 'INVALID');
}

/** Throws INVALID naming the first field that cannot work. */
export function validateSpec(spec: TaskRunSpec): void {
  if (!TASK_ID_RE.test(spec.taskId ?? '')) {
    throw invalid(spec, `taskId '${spec.taskId}' must be 1-56 letters, digits, '_', '.' or '-' (Swarm task IDs are 25 lower-case letters and digits)`);
  }
  if (!NAME_RE.test(spec.name ?? '')) throw invalid(spec, `name '${spec.name}' must be letters, digits, '_', '.' or '-', like <service>.<slot>.<taskId>`);
  if (!spec.image) throw invalid(spec, 'image is empty');
  if (spec.hostname !== undefined && !HOSTNAME_RE.test(spec.hostname)) throw invalid(spec, `hostname '${spec.hostname}' is not a valid host name`);
  for (const e of spec.env ?? []) {
    if (!/^[^=\0]+=/.test(e) || e.includes('\0')) throw invalid(spec, `env entry '${e}' must look like KEY=value`);
  }
  for (const part of [...(spec.command ?? []), ...(spec.args ?? [])]) {
    if (typeof part !== 'string' || part.includes('\0')) throw invalid(spec, 'command and args must be strings without NUL bytes');
  }
  if (!spec.dns || !Array.isArray(spec.dns.nameservers)) throw invalid(spec, 'dns.nameservers is missing (the controller passes 127.0.0.11)');
  for (const ns of spec.dns.nameservers) if (isIP(ns) === 0) throw invalid(spec, `dns nameserver '${ns}' is not an IP address`);
  for (const word of [...(spec.dns.search ?? []), ...(spec.dns.options ?? [])]) {
    if (!/^\S+$/.test(word)) throw invalid(spec, `dns search/option '${word}' must be one word`);
  }
  for (const h of spec.hosts ?? []) {
    if (isIP(h.ip) === 0) throw invalid(spec, `hosts entry address '${h.ip}' is not an IP address`);
    if (h.names.length === 0) throw invalid(spec, `hosts entry ${h.ip} has no names`);
    for (const n of h.names) if (!/^[^\s#:]+$/.test(n)) throw invalid(spec, `hosts name '${n}' must be one word without ':' or '#'`);
  }
}

/** The labels on everything made for this task: the spec's own, then ours (which win). */
export function taskLabels(spec: TaskRunSpec, nodeId: string): Record<string, string> {
  return {
    ...spec.labels,
    [LABEL_MANAGED]: 'true',
    [LABEL_NODE]: nodeId,
    [LABEL_TASK]: spec.taskId,
    [LABEL_TASK_NAME]: spec.name,
    [LABEL_SERVICE_ID]: spec.serviceId,
    [LABEL_SERVICE_NAME]: spec.serviceName,
  };
}

/** The hostname inside the task: the spec's, or the task ID's first 12 characters as Docker does. */
export function taskHostname(spec: TaskRunSpec): string {
  return spec.hostname ?? spec.taskId.slice(0, 12);
}

export function renderResolvConf(dns: TaskRunSpec['dns']): string {
  const lines: string[] = [];
  if (dns.search && dns.search.length > 0) lines.push(`search ${dns.search.join(' ')}`);
  for (const ns of dns.nameservers) lines.push(`nameserver ${ns}`);
  if (dns.options && dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  return lines.map((l) => `${l}\n`).join('');
}

/** Docker's /etc/hosts preamble, then the spec's extra lines. */
export function renderHosts(hosts: TaskRunSpec['hosts']): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    ...(hosts ?? []).map((h) => `${h.ip}\t${h.names.join(' ')}`),
  ];
  return lines.map((l) => `${l}\n`).join('');
}

/** Docker's ExtraHosts form: one `name:ip` per name. */
export function dockerExtraHosts(hosts: TaskRunSpec['hosts']): string[] {
  return (hosts ?? []).flatMap((h) => h.names.map((n) => `${n}:${h.ip}`));
}

const ENDPOINT_TAG = '# shoal endpoint';

function endpointTag(hostIfname: string): string {
  return `${ENDPOINT_TAG} ${hostIfname}`;
}

/**
 * Adds `<ip> <hostname>` for one attachment to a task's hosts file, as Docker does per network,
 * tagged with the bridge-side veth so removeHostsEndpoint can find it. The file is rewritten in
 * place (same inode), because it is bind-mounted into the task.
 */
export function addHostsEndpoint(path: string, ip: string, hostname: string, hostIfname: string): void {
  const kept = readLines(path).filter((l) => !l.endsWith(endpointTag(hostIfname)));
  kept.push(`${ip}\t${hostname}\t${endpointTag(hostIfname)}`);
  writeInPlace(path, kept);
}

export function removeHostsEndpoint(path: string, hostIfname: string): void {
  const lines = readLines(path);
  const kept = lines.filter((l) => !l.endsWith(endpointTag(hostIfname)));
  if (kept.length !== lines.length) writeInPlace(path, kept);
}

function readLines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);
}

function writeInPlace(path: string, lines: string[]): void {
  writeFileSync(path, lines.map((l) => `${l}\n`).join(''), { flag: 'w' }); // truncates the same inode
}
