// A task command for load-balancing tests that says which task answered: HTTP on port 80 serves
// /cgi-bin/who with the task's hostname (its task ID's first 12 characters, exec runtime), and UDP
// port 5353 answers every datagram with the same. The CGI script lives in a temporary directory
// removed at teardown.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function whoServer(t: { teardown(fn: () => void): void }): string[] {
  const www = mkdtempSync(join(tmpdir(), 'shoal-who-'));
  t.teardown(() => rmSync(www, { recursive: true, force: true }));
  mkdirSync(join(www, 'cgi-bin'));
  writeFileSync(join(www, 'cgi-bin', 'who'), '#!/bin/sh\necho "Content-Type: text/plain"\necho\nhostname\n');
  chmodSync(join(www, 'cgi-bin', 'who'), 0o755);
  const udp = `const s = require('node:dgram').createSocket('udp4'); const h = require('node:os').hostname(); s.on('message', (m, r) => s.send(h, r.port, r.address)); s.bind(5353);`;
  // httpd -f, in the background of the task's shell: a daemon would leave the task's process group.
  return ['host', '/bin/sh', '-c', `/bin/busybox httpd -f -p 80 -h ${www} & exec ${process.execPath} -e "${udp}"`];
}
