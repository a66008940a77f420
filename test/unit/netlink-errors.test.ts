// src/kernel/netlink-errors.ts: what the netlink package throws, turned into Linux errno names.
import t from 'tap';
import { KernelError } from '../../src/kernel/errors.js';
import { describeNetlinkError, errnoName, netlinkError } from '../../src/kernel/netlink-errors.js';

t.test("the package's 'Request rejected: NAME' messages", async (t) => {
  t.match(describeNetlinkError(new Error('Request rejected: EEXIST')), { code: 'EEXIST', errno: 17, description: 'file already exists' });
  t.match(describeNetlinkError(new Error('Request rejected: ENODEV')), { code: 'ENODEV', errno: 19 });
  t.match(describeNetlinkError(new Error('Request rejected: ENOENT')), { code: 'ENOENT', errno: 2 });
  t.match(describeNetlinkError(new Error('Request rejected: EBUSY')), { code: 'EBUSY', errno: 16 });
  t.match(describeNetlinkError(new Error('Request rejected: ESRCH')), { code: 'ESRCH', errno: 3 });
});

t.test('names libuv gets wrong or does not know come out as Linux names', async (t) => {
  t.match(describeNetlinkError(new Error('Request rejected: ENOTSUP')), { code: 'EOPNOTSUPP', errno: 95 }, 'libuv calls 95 ENOTSUP');
  t.match(describeNetlinkError(new Error('Request rejected: Unknown system error -524')), { code: 'ENOTSUPP', errno: 524 }, 'kernel-internal ENOTSUPP');
  t.match(describeNetlinkError(new Error('Request rejected: Unknown system error -74')), { code: 'EBADMSG', errno: 74 });
  t.match(describeNetlinkError(new Error('Request rejected: Unknown system error -9999')), { code: 'EUNKNOWN', errno: 9999 }, 'a number nobody knows');
  t.match(describeNetlinkError(new Error('Request rejected: -17')), { code: 'EEXIST', errno: 17 }, 'a bare number');
  t.equal(errnoName(95).code, 'EOPNOTSUPP');
  t.equal(errnoName(115).code, 'EINPROGRESS');
});

t.test('other failures', async (t) => {
  t.match(describeNetlinkError(new Error('Timeout has been reached')), { code: 'ETIMEDOUT' }, "the package's own timeout");
  t.match(describeNetlinkError(Object.assign(new Error('recvmsg: No buffer space'), { errno: -105, code: 'ENOBUFS' })), { code: 'ENOBUFS', errno: 105 }, 'a socket ErrnoException');
  t.match(describeNetlinkError(Object.assign(new Error('x'), { code: 'EPERM' })), { code: 'EPERM' }, 'an error with only a code');
  t.match(describeNetlinkError(new TypeError('data is not a function')), { code: 'EUNKNOWN', description: 'data is not a function' }, 'a programming error stays visible');
  t.match(describeNetlinkError('a string'), { code: 'EUNKNOWN', description: 'a string' });
});

t.test('netlinkError() builds a KernelError naming the operation', async (t) => {
  const err = netlinkError(new Error('Request rejected: EEXIST'), 'add fdb 02:42:0a:00:01:0c dst 192.168.56.102 on vxlan0 in node1');
  t.type(err, KernelError);
  t.equal(err.code, 'EEXIST');
  t.equal(err.op, 'add fdb 02:42:0a:00:01:0c dst 192.168.56.102 on vxlan0 in node1');
  t.equal(err.message, 'add fdb 02:42:0a:00:01:0c dst 192.168.56.102 on vxlan0 in node1: file already exists (EEXIST)');
  const already = new KernelError('ENODEV', 'set link x up in n1', 'no link');
  t.equal(netlinkError(already, 'other'), already, 'a KernelError passes through unchanged');
});
