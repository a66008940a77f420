// The overlay data plane with the exec runtime: tasks are processes in their own namespaces, on the
// node's own filesystem (image `host`). See overlay-body.ts for what is checked.
import t from 'tap';
import { overlayBody } from './overlay-body.js';

t.test('overlay networking across 3 nodes, exec runtime', async (t) => {
  await overlayBody(t, {
    kind: 'exec',
    server: (www) => ['host', '/bin/sh', '-c', `(while true; do /bin/busybox nc -l -p 9000 -e /bin/cat; done) & exec /bin/busybox httpd -f -p 80 -h ${www}`],
  });
});
