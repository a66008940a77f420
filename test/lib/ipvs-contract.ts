// The IPVS contract: the same cases run against the in-memory fake (test/unit/ipvs-fake.test.ts)
// and against the kernel (test/integration/ipvs.test.ts, where ip_vs exists), so the fake cannot
// drift from what the kernel does. Each case gets a fresh, empty IPVS (a new fake, or a new netns).
import type { Test } from 'tap';
import type { Ipvs, IpvsServiceKey } from '../../src/kernel/ipvs.js';

type Tap = Test;

/** Makes a fresh, empty IPVS; closed by the case's teardown. */
export type OpenIpvs = (t: Tap) => Promise<Ipvs>;

const FW: IpvsServiceKey = { fwmark: 260 };
const TCP: IpvsServiceKey = { protocol: 'tcp', address: '10.0.1.2', port: 80 };

export function ipvsContract(t: Tap, open: OpenIpvs): void {
  void t.test('services: add, read back, duplicate, update, delete, and the errno of each refusal', async (t) => {
    const ipvs = await open(t);
    t.same(await ipvs.listServices(), [], 'a fresh namespace has no services');

    await ipvs.addService({ ...FW, scheduler: 'rr' });
    t.match(await ipvs.listServices(), [{ fwmark: 260, family: 4, scheduler: 'rr', flags: 0, timeout: 0, netmask: 0xffffffff }], 'fwmark service as asked, HASHED not shown');
    t.match(await ipvs.getService(FW), { fwmark: 260, scheduler: 'rr' }, 'getService finds it');
    await t.rejects(ipvs.addService({ ...FW }), { code: 'EEXIST' }, 'the same fwmark again: EEXIST');

    await ipvs.addService({ ...TCP, scheduler: 'wrr' });
    const both = await ipvs.listServices();
    t.equal(both.length, 2);
    t.match(both[0], { protocol: 'tcp', address: '10.0.1.2', port: 80, family: 4, scheduler: 'wrr' }, 'address services are dumped before fwmark services');
    t.match(both[1], { fwmark: 260 });

    await ipvs.updateService({ ...FW, scheduler: 'wlc', flags: 0x1, timeout: 300, netmask: 0xffffff00 });
    t.match(await ipvs.getService(FW), { scheduler: 'wlc', flags: 1, timeout: 300, netmask: 0xffffff00 }, 'update changes scheduler, persistence, timeout, netmask');
    await ipvs.updateService({ ...FW, scheduler: 'rr' });
    t.match(await ipvs.getService(FW), { scheduler: 'rr', flags: 0, timeout: 0, netmask: 0xffffffff }, 'every setting is sent on update (mask ~0), so defaults come back');

    const missing: IpvsServiceKey = { fwmark: 999 };
    t.equal(await ipvs.getService(missing), undefined, 'getService of a missing service: undefined (ESRCH)');
    await t.rejects(ipvs.updateService({ ...missing }), { code: 'ESRCH' }, 'update of a missing service: ESRCH');
    await t.rejects(ipvs.deleteService(missing), { code: 'ESRCH' }, 'delete of a missing service: ESRCH');
    await t.rejects(ipvs.addService({ fwmark: 261, scheduler: 'nosuch' }), { code: 'ENOENT' }, 'a scheduler with no module: ENOENT');
    t.equal(await ipvs.getService({ fwmark: 261 }), undefined, 'and nothing was added');
    await ipvs.addService({ fwmark: 262, scheduler: 'none' });
    t.match(await ipvs.getService({ fwmark: 262 }), { scheduler: 'none' }, "scheduler 'none' is allowed");

    await ipvs.deleteService(FW);
    t.equal(await ipvs.getService(FW), undefined, 'deleted');
    await ipvs.flush();
    t.same(await ipvs.listServices(), [], 'flush removes every service');
  });

  void t.test('destinations: masquerade, weights, thresholds, newest first, quiesce, delete', async (t) => {
    const ipvs = await open(t);
    await ipvs.addService({ ...FW });
    for (const address of ['10.0.1.11', '10.0.1.12', '10.0.1.13']) await ipvs.addDestination(FW, { address, port: 0, forward: 'masquerade', weight: 1 });
    const dests = await ipvs.listDestinations(FW);
    t.same(dests.map((d) => d.address), ['10.0.1.13', '10.0.1.12', '10.0.1.11'], 'the kernel lists destinations newest first');
    t.match(dests[0], { port: 0, family: 4, forward: 'masquerade', weight: 1, upperThreshold: 0, lowerThreshold: 0, activeConnections: 0, inactiveConnections: 0 });

    await t.rejects(ipvs.addDestination(FW, { address: '10.0.1.12', port: 0 }), { code: 'EEXIST' }, 'the same destination again: EEXIST');
    await t.rejects(ipvs.addDestination({ fwmark: 999 }, { address: '10.0.1.12', port: 0 }), { code: 'ESRCH' }, 'a destination of a missing service: ESRCH');
    await t.rejects(ipvs.addDestination(FW, { address: '10.0.1.14', port: 0, weight: -1 }), { code: 'ERANGE' }, 'a negative weight: ERANGE');
    await t.rejects(ipvs.addDestination(FW, { address: '10.0.1.14', port: 0, lowerThreshold: 10, upperThreshold: 5 }), { code: 'ERANGE' }, 'lower threshold above upper: ERANGE');
    await t.rejects(ipvs.addDestination(FW, { address: '224.0.0.1', port: 0 }), { code: 'EINVAL' }, 'a multicast destination: EINVAL');
    await t.rejects(ipvs.addDestination(FW, { address: 'fd00::1', port: 0 }), { code: 'EINVAL' }, 'an IPv6 destination in an IPv4 service with masquerade: EINVAL');

    await ipvs.updateDestination(FW, { address: '10.0.1.12', port: 0, weight: 0 });
    t.match((await ipvs.listDestinations(FW)).map((d) => [d.address, d.weight]), [['10.0.1.13', 1], ['10.0.1.12', 0], ['10.0.1.11', 1]], 'weight 0 quiesces in place');
    await ipvs.updateDestination(FW, { address: '10.0.1.11', port: 0, weight: 5, upperThreshold: 100, lowerThreshold: 50 });
    t.match((await ipvs.listDestinations(FW))[2], { weight: 5, upperThreshold: 100, lowerThreshold: 50 }, 'weight and thresholds updated');
    await t.rejects(ipvs.updateDestination(FW, { address: '10.0.1.99', port: 0 }), { code: 'ENOENT' }, 'update of a missing destination: ENOENT');
    await t.rejects(ipvs.updateDestination(FW, { address: '10.0.1.11', port: 0, weight: -5 }), { code: 'ERANGE' }, 'update to a negative weight: ERANGE');

    await ipvs.deleteDestination(FW, { address: '10.0.1.12', port: 0 });
    t.same((await ipvs.listDestinations(FW)).map((d) => d.address), ['10.0.1.13', '10.0.1.11'], 'deleted');
    await t.rejects(ipvs.deleteDestination(FW, { address: '10.0.1.12', port: 0 }), { code: 'ENOENT' }, 'delete again: ENOENT');
    await t.rejects(ipvs.deleteDestination({ fwmark: 999 }, { address: '10.0.1.12', port: 0 }), { code: 'ESRCH' }, 'delete from a missing service: ESRCH');
    t.same(await ipvs.listDestinations({ fwmark: 999 }), [], "listing a missing service's destinations is an empty dump, not an error");

    await ipvs.addService({ ...TCP });
    await ipvs.addDestination(TCP, { address: '10.0.1.11', port: 8080 });
    await ipvs.addDestination(TCP, { address: '10.0.1.11', port: 8081 });
    t.same((await ipvs.listDestinations(TCP)).map((d) => d.port), [8081, 8080], 'same address, other port: another destination');
    await ipvs.deleteService(FW);
    await ipvs.addService({ ...FW });
    t.same(await ipvs.listDestinations(FW), [], 'a service deleted and added again starts without destinations');
  });

  void t.test('IPv6 services and destinations', async (t) => {
    const ipvs = await open(t);
    const v6: IpvsServiceKey = { protocol: 'udp', address: 'fd00::2', port: 53 };
    await ipvs.addService({ ...v6 });
    t.match(await ipvs.getService(v6), { family: 6, address: 'fd00::2', port: 53, protocol: 'udp', netmask: 128 });
    await ipvs.addDestination(v6, { address: 'fd00::11', port: 53 });
    t.match(await ipvs.listDestinations(v6), [{ address: 'fd00::11', family: 6, port: 53 }]);
    await t.rejects(ipvs.addService({ fwmark: 7, family: 6, netmask: 0 }), { code: 'EINVAL' }, 'an IPv6 persistence netmask must be a prefix length 1..128');
    await ipvs.addService({ fwmark: 7, family: 6 });
    await ipvs.addService({ fwmark: 7, family: 4 });
    t.equal((await ipvs.listServices()).filter((s) => 'fwmark' in s && s.fwmark === 7).length, 2, 'the same fwmark in both families is two services');
  });

  void t.test('info and connection timeouts', async (t) => {
    const ipvs = await open(t);
    const info = await ipvs.info();
    t.equal(info.version, '1.2.1');
    t.ok(info.connectionTableSize > 0, 'a connection table size');
    t.same(await ipvs.timeouts(), { tcp: 900, tcpFin: 120, udp: 300 }, "the kernel's defaults");
    await ipvs.setTimeouts({ tcp: 7200 });
    t.same(await ipvs.timeouts(), { tcp: 7200, tcpFin: 120, udp: 300 }, 'only TCP changed');
    await ipvs.setTimeouts({ tcp: 0, udp: 0, tcpFin: 60 });
    t.same(await ipvs.timeouts(), { tcp: 7200, tcpFin: 60, udp: 300 }, '0 leaves a timeout as it is');
    await t.rejects(ipvs.setTimeouts({ tcp: 0x80000000 }), { code: 'EINVAL' }, 'above INT_MAX: EINVAL');
    await ipvs.setTimeouts({ tcp: 900, tcpFin: 120 });
  });
}
