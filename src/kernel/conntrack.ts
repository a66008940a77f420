// Connection tracking entries: forgetting the flows a namespace has to an address that no longer
// serves, so that a client reusing its source port (UDP above all) is load-balanced afresh instead
// of staying stuck on a removed backend (Docker gets this from IPVS's expire_nodest_conn).
import { KernelError } from './errors.js';
import { describeNetns, type NetnsRef } from './netns.js';
import { runInNetns } from './run-in-netns.js';

/** Deletes the namespace's conntrack entries whose reply comes from `ip`; returns how many went. */
export async function forgetFlowsTo(ref: NetnsRef, ip: string): Promise<number> {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) throw new KernelError('EINVAL', 'conntrack address', `'${ip}' is not an IPv4 address`);
  const r = await runInNetns(ref, 'conntrack', ['-D', '-r', ip], { missing: 'install the conntrack package (apt-get install conntrack)' });
  // conntrack exits 1 when nothing matched; it reports the count on stderr either way.
  const m = /(\d+) flow entries have been deleted/.exec(r.stderr);
  if (m) return Number(m[1]);
  throw new KernelError('EUNKNOWN', `conntrack -D -r ${ip} in ${describeNetns(ref)}`, r.stderr.trim() || `exit status ${r.status}`);
}
