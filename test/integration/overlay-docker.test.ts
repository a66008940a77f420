// The overlay data plane with the docker runtime: tasks are containers of the local busybox image,
// created with no network and plumbed by shoal. See overlay-body.ts for what is checked.
import t from 'tap';
import { overlayBody } from './overlay-body.js';

t.test('overlay networking across 3 nodes, docker runtime', async (t) => {
  await overlayBody(t, {
    kind: 'docker',
    server: () => ['busybox', 'sh', '-c', 'mkdir -p /www && dd if=/dev/zero of=/www/big bs=1024 count=1024 2>/dev/null && (while true; do nc -l -p 9000 -e cat; done) & exec httpd -f -p 80 -h /www'],
  });
});
