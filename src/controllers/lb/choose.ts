// Which load-balancer backend this node uses (--lb-backend auto|ipvs|nftables): auto takes IPVS
// where the kernel has it or can load it (modprobe ip_vs, as Docker does), else nftables, and says
// why; an explicit ipvs on a kernel without it is a startup error naming the reason.
import { existsSync } from 'node:fs';
import { Ipvs, IpvsUnavailableError, isIpvsUnavailable } from '../../kernel/ipvs.js';
import type { NetnsRef } from '../../kernel/netns.js';
import type { LbChoice, LbSetting } from './lb.js';
import { IpvsLb } from './ipvs.js';
import { NftablesLb } from './nftables.js';

export class LbUnavailableError extends Error {}

/** Whether IPVS answers in the agent's namespace (loading ip_vs if needed): true, or why not. */
export async function probeIpvs(open: (ns: NetnsRef, load: boolean) => Promise<Ipvs> = (ns, load) => Ipvs.open(ns, { load }), modules = existsSync('/proc/modules')): Promise<true | string> {
  try {
    // A kernel built without module support cannot load ip_vs: say that rather than what modprobe says.
    const ipvs = await open('self', modules).catch((err: unknown) => {
      if (!modules && isIpvsUnavailable(err)) throw new IpvsUnavailableError(err.op, 'this kernel has no ip_vs and cannot load modules (no /proc/modules)');
      throw err;
    });
    try {
      await ipvs.info();
    } finally {
      ipvs.close();
    }
    return true;
  } catch (err) {
    // The kernel layer's message says what to do; the reason shown is its first clause, without the operation.
    if (isIpvsUnavailable(err)) return err.message.slice(err.op.length + 2).split(';')[0]!.trim();
    return (err as Error).message;
  }
}

export async function chooseLoadBalancer(setting: LbSetting, probe: () => Promise<true | string> = () => probeIpvs()): Promise<LbChoice> {
  const nftables = (reason: string): LbChoice => ({ lb: new NftablesLb(), kind: 'nftables', reason });
  if (setting === 'nftables') return nftables('nftables (--lb-backend nftables)');
  const ipvs = await probe();
  if (ipvs === true) {
    const lb = new IpvsLb({ open: (ns) => Ipvs.open(ns, { load: false }) });
    return { lb, kind: 'ipvs', reason: setting === 'ipvs' ? 'ipvs (--lb-backend ipvs)' : 'ipvs' };
  }
  if (setting === 'ipvs') throw new LbUnavailableError(`--lb-backend ipvs: IPVS is not available on this kernel (${ipvs}); use --lb-backend auto or nftables`);
  return nftables(`nftables (ip_vs not available: ${ipvs})`);
}
