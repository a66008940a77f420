// src/kernel/genl-socket.ts and src/kernel/ipvs.ts against the real kernel. Generic netlink itself
// is tested here on any kernel (nlctrl: a family lookup, a multi-part dump of every family, many
// requests at once). The IPVS contract (test/lib/ipvs-contract.ts, the same cases the fake passes)
// runs only where the kernel has ip_vs, i.e. in the VM lab; elsewhere it skips and says why.
import t from 'tap';
import { GenlSocket } from '../../src/kernel/genl-socket.js';
import { Ipvs, IPVS_SYSCTLS, isIpvsUnavailable, resolveFamily, setIpvsSysctls } from '../../src/kernel/ipvs.js';
import { CTRL_CMD_GETFAMILY, decodeFamily, encodeGenl, GENL_ID_CTRL, interpretReply } from '../../src/kernel/ipvs-wire.js';
import { ipvsContract } from '../lib/ipvs-contract.js';
import { scratchNetns } from '../lib/kernel.js';

/** Whether this kernel has IPVS (loading the module if it can), and if not what was said. */
async function probeIpvs(): Promise<true | string> {
  try {
    (await Ipvs.open('self', { load: true })).close();
    return true;
  } catch (err) {
    if (isIpvsUnavailable(err)) return (err as Error).message;
    throw err;
  }
}

const probe = await probeIpvs();
const hasIpvs = probe === true;
const noIpvs = 'this kernel has no ip_vs (modprobe ip_vs failed): run in the VM lab';

t.test('generic netlink through our socket: nlctrl resolves itself, and a family nobody registered is missing', async (t) => {
  const { name } = scratchNetns(t, 'genl');
  const sock = GenlSocket.open({ name });
  t.teardown(() => sock.close());
  t.equal(await resolveFamily(sock, 'nlctrl'), GENL_ID_CTRL, 'nlctrl is GENL_ID_CTRL (16)');
  t.equal(await resolveFamily(sock, 'shoal-no-such'), undefined, 'an unknown name: undefined (the kernel says ENOENT)');
});

t.test('a multi-part dump of every family, with many requests queued around it', async (t) => {
  const { name } = scratchNetns(t, 'genld');
  const sock = GenlSocket.open({ name });
  t.teardown(() => sock.close());
  const lookups = Array.from({ length: 100 }, () => resolveFamily(sock, 'nlctrl'));
  const dump = sock.request(GENL_ID_CTRL, encodeGenl(CTRL_CMD_GETFAMILY, 1), { dump: true, op: 'list generic netlink families' });
  const more = Array.from({ length: 100 }, () => resolveFamily(sock, 'nlctrl'));
  const reply = interpretReply(await dump, GENL_ID_CTRL);
  if (!reply.ok) return t.fail(`dump failed with errno ${reply.errno}`);
  const families = reply.messages.map(decodeFamily);
  t.ok(families.length >= 3, `${families.length} families: ${families.map((f) => f.name).join(', ')}`);
  t.match(families.find((f) => f.name === 'nlctrl'), { id: 16 }, 'nlctrl among them');
  t.equal(families.some((f) => f.name === 'IPVS'), hasIpvs, hasIpvs ? 'IPVS among them' : 'no IPVS among them on this kernel');
  t.same([...new Set(await Promise.all([...lookups, ...more]))], [16], 'all 200 lookups answered');
});

t.test('a closed socket fails requests with EBADF naming the operation and namespace', async (t) => {
  const { name } = scratchNetns(t, 'genlc');
  const sock = GenlSocket.open({ name });
  t.equal(await resolveFamily(sock, 'nlctrl'), GENL_ID_CTRL, 'works while open');
  sock.close();
  t.ok(sock.isClosed);
  await t.rejects(resolveFamily(sock, 'nlctrl'), { code: 'EBADF', message: new RegExp(`resolve generic netlink family nlctrl in ${name}: the generic netlink socket was closed`) });
  sock.close(); // twice is harmless
});

t.test('opening IPVS on a kernel without ip_vs fails naming the problem', { skip: hasIpvs ? 'this kernel has ip_vs' : false }, async (t) => {
  const { name } = scratchNetns(t, 'novs');
  const err = await Ipvs.open({ name }).catch((e: unknown) => e);
  t.ok(isIpvsUnavailable(err), 'IpvsUnavailableError');
  t.match(err, { code: 'ENOENT', message: new RegExp(`resolve generic netlink family IPVS in ${name}: this kernel has no ip_vs \\(modprobe ip_vs failed`) });
  t.comment(`probe said: ${String(probe)}`);
});

t.test('the IPVS contract against the kernel', { skip: hasIpvs ? false : noIpvs }, async (t) => {
  ipvsContract(t, async (t) => {
    const { name } = scratchNetns(t, 'vs');
    const ipvs = await Ipvs.open({ name });
    t.teardown(() => ipvs.close());
    return ipvs;
  });
});

t.test("Docker's IPVS sysctls in a namespace", async (t) => {
  const { ns } = scratchNetns(t, 'vsctl');
  if (!hasIpvs) {
    t.throws(() => setIpvsSysctls(ns), { code: 'ENOENT', message: /net\.ipv4\.vs\.conn_reuse_mode does not exist: the ip_vs module is not loaded/ }, 'without ip_vs: ENOENT naming the sysctl and the module');
    return;
  }
  setIpvsSysctls(ns);
  for (const { key, value } of IPVS_SYSCTLS) t.equal(ns.readSysctl(key), String(value), `${key} = ${value}`);
});
