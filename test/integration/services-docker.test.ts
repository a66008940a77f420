// Services and their DNS with the docker runtime (the local busybox image). See services-body.ts.
import t from 'tap';
import { servicesBody } from './services-body.js';

t.test('services end to end, docker runtime', async (t) => {
  await servicesBody(t, { kind: 'docker', server: ['busybox', 'httpd', '-f', '-p', '80', '-h', '/tmp'] });
});
