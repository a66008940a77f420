// The VIPs a task holds as /32 addresses on its lo (the IPVS backend's, decision 0021): read back
// over rtnetlink and brought to exactly the given set; lo's own 127.0.0.1/8 is never touched.
import type { NetnsRef } from '../../kernel/netns.js';
import { withRtnl } from '../../kernel/rtnl.js';

/** Makes the served VIPs, and only them, /32 addresses on the namespace's lo; returns the netlink requests it took. */
export type LoopbackVips = (ns: NetnsRef, vips: readonly string[]) => Promise<number>;

export const syncLoopbackVips: LoopbackVips = (ns, vips) => withRtnl(ns, async (rtnl) => {
  // Ours are the /32s; lo's own 127.0.0.1/8 is never touched.
  const held = (await rtnl.addresses.list('lo')).filter((a) => a.family === 4 && a.prefixLen === 32).map((a) => a.address);
  let calls = 1;
  for (const ip of vips.filter((v) => !held.includes(v))) {
    await rtnl.addresses.add('lo', `${ip}/32`);
    calls++;
  }
  for (const ip of held.filter((h) => !vips.includes(h))) {
    await rtnl.addresses.delete('lo', `${ip}/32`);
    calls++;
  }
  return calls;
});

