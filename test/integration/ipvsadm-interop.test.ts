// ipvsadm, the reference user of the IPVS generic netlink family (libipvs over libnl), against our
// wire layer and our fake, without ip_vs: an LD_PRELOAD shim (test/fixtures/ipvsadm/genl-shim.c,
// compiled here) turns ipvsadm's NETLINK_GENERIC sockets into a pipe to this test, which answers
// with FakeIpvsKernel. Both directions are checked: the bytes ipvsadm sends equal the bytes we send
// for the same operation (or, where it sends more, every attribute we send it sends identically),
// and ipvsadm reads the fake's answers (services, destinations, errors, timeouts) correctly.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import t from 'tap';
import { FakeGenlTransport, FakeIpvsKernel } from '../../src/kernel/ipvs-fake.js';
import { destToWire, Ipvs, keyToWire, specToWire } from '../../src/kernel/ipvs.js';
import {
  attrMap, encodeGetFamily, encodeIpvsRequest, GENL_ID_CTRL, IPVS_CMD, IPVS_CMD_ATTR, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
  parseAttrs, parseNlMsgs, type NlMsg,
} from '../../src/kernel/ipvs-wire.js';
import { projectRoot } from '../../src/util/paths.js';

function installed(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const skip = installed('ipvsadm') && installed('gcc') ? false : 'ipvsadm or gcc is not installed (apt-get install ipvsadm build-essential)';
const REQ = NLM_F_REQUEST | NLM_F_ACK;
const DUMP = REQ | NLM_F_DUMP;

/** Compiles the shim into a temporary directory, removed on teardown. */
function buildShim(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-genl-shim-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'genl-shim.so');
  execFileSync('gcc', ['-shared', '-fPIC', '-O1', '-Wall', '-o', out, join(projectRoot, 'test/fixtures/ipvsadm/genl-shim.c'), '-ldl']);
  return out;
}

interface Run {
  status: number | null;
  out: string;
  err: string;
  /** What ipvsadm sent, every message (nlctrl and IPVS). */
  sent: NlMsg[];
}

/** Runs ipvsadm with its generic netlink going to kernel; killed if it takes over 10 s. */
function ipvsadm(kernel: FakeIpvsKernel, shim: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('ipvsadm', args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'], env: { ...process.env, LD_PRELOAD: shim }, timeout: 10_000 });
    const pipe = child.stdio[3] as Readable & Writable;
    const sent: NlMsg[] = [];
    let acc = Buffer.alloc(0);
    pipe.on('data', (chunk: Buffer) => {
      acc = Buffer.concat([acc, chunk]);
      while (acc.length >= 8 && acc.length >= 8 + acc.readUInt32LE(0)) {
        const len = acc.readUInt32LE(0);
        const id = acc.readUInt32LE(4);
        const datagram = Buffer.from(acc.subarray(8, 8 + len));
        acc = acc.subarray(8 + len);
        sent.push(...parseNlMsgs(datagram));
        for (const answer of kernel.handle(datagram)) {
          const frame = Buffer.alloc(8);
          frame.writeUInt32LE(answer.length, 0);
          frame.writeUInt32LE(id, 4);
          pipe.write(Buffer.concat([frame, answer]));
        }
      }
    });
    pipe.on('error', () => {}); // ipvsadm exiting closes it
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, out, err: err.trim(), sent }));
  });
}

/** The IPVS messages of a run (not nlctrl, not GET_INFO which ipvsadm sends on every start). */
function ipvsRequests(r: Run, kernel: FakeIpvsKernel): NlMsg[] {
  return r.sent.filter((m) => m.type === kernel.familyId && m.payload[0] !== IPVS_CMD.GET_INFO);
}

t.test('ipvsadm sends the bytes we send', { skip }, async (t) => {
  const shim = buildShim(t);
  const kernel = new FakeIpvsKernel();
  const cases: Array<[string[], Buffer, number]> = [
    [['-A', '-f', '260', '-s', 'rr'], encodeIpvsRequest(IPVS_CMD.NEW_SERVICE, { service: specToWire({ fwmark: 260, scheduler: 'rr' }) }), REQ],
    [['-A', '-t', '10.0.1.2:80', '-s', 'wrr'], encodeIpvsRequest(IPVS_CMD.NEW_SERVICE, { service: specToWire({ protocol: 'tcp', address: '10.0.1.2', port: 80, scheduler: 'wrr' }) }), REQ],
    [['-A', '-u', '[fd00::2]:53', '-s', 'rr'], encodeIpvsRequest(IPVS_CMD.NEW_SERVICE, { service: specToWire({ protocol: 'udp', address: 'fd00::2', port: 53, scheduler: 'rr' }) }), REQ],
    [['-E', '-f', '260', '-s', 'wlc', '-p', '300'], encodeIpvsRequest(IPVS_CMD.SET_SERVICE, { service: specToWire({ fwmark: 260, scheduler: 'wlc', flags: 1, timeout: 300 }) }), REQ],
    [['--set', '7200', '120', '300'], encodeIpvsRequest(IPVS_CMD.SET_CONFIG, { timeouts: { tcp: 7200, tcpFin: 120, udp: 300 } }), REQ],
    [['-L', '--timeout'], encodeIpvsRequest(IPVS_CMD.GET_CONFIG), REQ],
  ];
  for (const [args, ours, flags] of cases) {
    const r = await ipvsadm(kernel, shim, args);
    t.equal(r.status, 0, `ipvsadm ${args.join(' ')} succeeds against the fake ${r.err}`);
    const [msg, ...rest] = ipvsRequests(r, kernel);
    t.same(msg?.payload, ours, `ipvsadm ${args.join(' ')}: genl header and attributes byte for byte`);
    t.equal(msg?.flags, flags, 'same nlmsg flags');
    t.equal(rest.length, 0, 'one IPVS request');
    t.same(r.sent.find((m) => m.type === GENL_ID_CTRL)?.payload, encodeGetFamily('IPVS'), 'its CTRL_CMD_GETFAMILY is ours too');
  }

  const list = await ipvsadm(kernel, shim, ['-Ln']);
  const dumps = ipvsRequests(list, kernel);
  t.same(dumps.map((m) => m.flags), [DUMP, DUMP, DUMP, DUMP], 'four dumps: services, then each service\'s destinations');
  t.same(dumps[0]?.payload, encodeIpvsRequest(IPVS_CMD.GET_SERVICE), 'GET_SERVICE dump');
  const destDumps = dumps.slice(1).map((m) => m.payload.toString('hex')).sort();
  const ours = [
    keyToWire({ fwmark: 260 }),
    keyToWire({ protocol: 'tcp', address: '10.0.1.2', port: 80 }),
    keyToWire({ protocol: 'udp', address: 'fd00::2', port: 53 }),
  ].map((service) => encodeIpvsRequest(IPVS_CMD.GET_DEST, { service }).toString('hex')).sort();
  t.same(destDumps, ours, 'GET_DEST dumps, by fwmark and by address, byte for byte');
});

t.test('destination and delete requests: ipvsadm sends more, and every attribute we send it sends with the same bytes', { skip }, async (t) => {
  const shim = buildShim(t);
  const kernel = new FakeIpvsKernel();
  t.equal((await ipvsadm(kernel, shim, ['-A', '-f', '260', '-s', 'rr'])).status, 0);
  const fw = keyToWire({ fwmark: 260 });
  const cases: Array<[string[], Buffer]> = [
    [['-a', '-f', '260', '-r', '10.0.1.11', '-m', '-w', '0', '-x', '100', '-y', '50'], encodeIpvsRequest(IPVS_CMD.NEW_DEST, { service: fw, dest: destToWire({ address: '10.0.1.11', port: 0, forward: 'masquerade', weight: 0, upperThreshold: 100, lowerThreshold: 50 }, true) })],
    [['-e', '-f', '260', '-r', '10.0.1.11', '-m', '-w', '3'], encodeIpvsRequest(IPVS_CMD.SET_DEST, { service: fw, dest: destToWire({ address: '10.0.1.11', port: 0, weight: 3 }, true) })],
    [['-d', '-f', '260', '-r', '10.0.1.11'], encodeIpvsRequest(IPVS_CMD.DEL_DEST, { service: fw, dest: destToWire({ address: '10.0.1.11', port: 0 }, false) })],
    [['-D', '-f', '260'], encodeIpvsRequest(IPVS_CMD.DEL_SERVICE, { service: fw })],
  ];
  for (const [args, ours] of cases) {
    const r = await ipvsadm(kernel, shim, args);
    t.equal(r.status, 0, `ipvsadm ${args.join(' ')} ${r.err}`);
    const [msg] = ipvsRequests(r, kernel);
    const theirs = msg?.payload ?? Buffer.alloc(0);
    t.same(theirs.subarray(0, 4), ours.subarray(0, 4), `${args.join(' ')}: same genl header`);
    const top = (b: Buffer): Map<number, Buffer> => attrMap(b.subarray(4));
    for (const nest of [IPVS_CMD_ATTR.SERVICE, IPVS_CMD_ATTR.DEST]) {
      const mine = top(ours).get(nest);
      if (!mine) continue;
      const theirNest = attrMap(top(theirs).get(nest) ?? Buffer.alloc(0));
      for (const a of parseAttrs(mine)) t.same(theirNest.get(a.type), a.value, `${args.join(' ')}: nest ${nest} attribute ${a.type}`);
    }
  }
  t.same(kernel.size, { services: 0, destinations: 0 }, 'and the fake followed along to empty');
});

t.test("ipvsadm reads the fake's answers: what our Ipvs made, its errors, the timeouts", { skip }, async (t) => {
  const shim = buildShim(t);
  const kernel = new FakeIpvsKernel();
  const ipvs = await Ipvs.over(new FakeGenlTransport(kernel));
  await ipvs.addService({ fwmark: 260, scheduler: 'wlc', flags: 1, timeout: 300 });
  await ipvs.addDestination({ fwmark: 260 }, { address: '10.0.1.11', port: 0, weight: 3 });
  await ipvs.addDestination({ fwmark: 260 }, { address: '10.0.1.12', port: 0, weight: 0, upperThreshold: 10, lowerThreshold: 5 });
  await ipvs.addService({ protocol: 'tcp', address: '10.0.1.2', port: 80, scheduler: 'wrr' });
  await ipvs.addDestination({ protocol: 'tcp', address: '10.0.1.2', port: 80 }, { address: '10.0.1.13', port: 8080, forward: 'route' });
  await ipvs.addService({ protocol: 'udp', address: 'fd00::2', port: 53 });

  const list = await ipvsadm(kernel, shim, ['-Ln']);
  t.equal(list.status, 0, list.err);
  const lines = list.out.split('\n').map((l) => l.trim().replace(/\s+/g, ' '));
  t.ok(lines.includes('IP Virtual Server version 1.2.1 (size=4096)'), 'GET_INFO');
  t.ok(lines.includes('FWM 260 wlc persistent 300'), 'fwmark service with persistence');
  t.ok(lines.includes('-> 10.0.1.11:0 Masq 3 0 0'), 'masquerade destination, weight 3');
  t.ok(lines.includes('-> 10.0.1.12:0 Masq 0 0 0'), 'quiesced destination');
  t.ok(lines.includes('TCP 10.0.1.2:80 wrr'), 'address service');
  t.ok(lines.includes('-> 10.0.1.13:8080 Route 1 0 0'), 'direct-routing destination');
  t.ok(lines.includes('UDP [fd00::2]:53 rr'), 'IPv6 service (netmask 128 read back as its prefix length)');
  const thresholds = await ipvsadm(kernel, shim, ['-Ln', '--thresholds']);
  t.match(thresholds.out.replace(/[ \t]+/g, ' '), /-> 10\.0\.1\.12:0 10 5/, 'thresholds');

  const cases: Array<[string[], RegExp]> = [
    [['-A', '-f', '260'], /Service already exists/],
    [['-E', '-f', '999'], /No such service/],
    [['-a', '-f', '260', '-r', '10.0.1.11'], /Destination already exists/],
    [['-d', '-f', '260', '-r', '10.9.9.9'], /No such destination/],
    [['-A', '-f', '261', '-s', 'nosuch'], /Scheduler or persistence engine not found/],
  ];
  for (const [args, said] of cases) {
    const r = await ipvsadm(kernel, shim, args);
    t.not(r.status, 0, `ipvsadm ${args.join(' ')} fails`);
    t.match(r.err, said, `and says ${said.source}`);
  }
  t.match((await ipvsadm(kernel, shim, ['-L', '--timeout'])).out, /Timeout \(tcp tcpfin udp\): 900 120 300/, "the fake's default timeouts");
});
