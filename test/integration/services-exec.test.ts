// Services and their DNS with the exec runtime (tasks on the node's own filesystem). See services-body.ts.
import t from 'tap';
import { servicesBody } from './services-body.js';

t.test('services end to end, exec runtime', async (t) => {
  await servicesBody(t, { kind: 'exec', server: ['host', '/bin/busybox', 'httpd', '-f', '-p', '80', '-h', '/tmp'] });
});
