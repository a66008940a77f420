// Images from registries in a 3-node lab with the docker runtime: a global service whose image is only
// in the lab registry (`netns-scripts/lab registry`) runs on every node after pulling; a missing
// image gives Docker's "No such image" in `service ps`; and with --with-registry-auth the docker
// client's credentials ($DOCKER_CONFIG/config.json) travel with the service to the node that pulls
// from a registry requiring them, while no read of the service or its tasks shows them.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { pingDocker } from '../../src/runtime/choose.js';
import { DOCKER_SOCKET } from '../../src/runtime/docker.js';
import { Lab } from '../lib/lab.js';
import { registryMissing, startRegistry } from '../lib/registry.js';
import { until } from '../lib/wait.js';

interface TaskJson { ID: string; NodeName: string; DesiredState: string; Status: { State: string; Err?: string } }

const noEngine = await pingDocker(DOCKER_SOCKET, 2000);
const skip = noEngine ? `the Docker Engine does not answer (${noEngine})` : registryMissing();
const engineHas = (ref: string) => spawnSync('docker', ['image', 'inspect', ref], { stdio: 'ignore' }).status === 0;

t.test('services pull their images from registries', { skip }, async (t) => {
  const lab = new Lab('im');
  lab.up(t, '--nodes', '3', '--runtime', 'docker');
  const registry = lab.run('registry');
  t.equal(registry.status, 0, 'the lab runs a registry');
  const reg = registry.out;
  t.match(reg, /^127\.0\.56\.1:\d+$/, 'on the host\'s loopback, where the engine pulls from');
  const tasks = (service: string) => lab.json<TaskJson[]>('node1', 'service', 'ps', service, '--format', 'json') ?? [];

  t.test('an image only in the lab registry runs on every node after pulling', async (t) => {
    const image = `${reg}/busybox`;
    t.notOk(engineHas(`${image}:latest`), 'the engine does not have it before');
    const create = lab.shoal('node1', 'service', 'create', '--name', 'lab_pulled', '--mode', 'global', image, 'sleep', '3600');
    t.equal(create.status, 0, `a stack-style name and a registry image: ${create.err}`);
    const running = tasks('lab_pulled').filter((x) => x.Status.State === 'running');
    t.same(running.map((x) => x.NodeName).sort(), ['node1', 'node2', 'node3'], 'a running task on each node');
    t.ok(engineHas(`${image}:latest`), 'the engine has it now');
    const logs = ['node1', 'node2', 'node3'].map((n) => readFileSync(`/run/shoal/${lab.prefix}${n}/agent.log`, 'utf8')).join('');
    t.match(logs, new RegExp(`"image":"${image.replace(/\./g, '\\.')}:latest"[^\\n]*"msg":"image pulled"`), 'an agent pulled it');
  });

  t.test('a missing image gives Docker\'s error in service ps', async (t) => {
    t.equal(lab.shoal('node1', 'service', 'create', '-d', '--name', 'missing', `${reg}/nosuch`, 'sleep', '1').status, 0);
    const want = `No such image: ${reg}/nosuch:latest`;
    const { value: rejected } = await until('a rejected task', () => tasks('missing').find((x) => x.Status.State === 'rejected'), 30_000);
    t.equal(rejected.Status.Err, want, 'rejected with the engine\'s words');
    const ps = lab.shoal('node1', 'service', 'ps', '--no-trunc', 'missing');
    t.match(ps.out, `Rejected`, 'service ps shows it Rejected');
    t.match(ps.out, `"${want}"`, 'with the error in the ERROR column');
    t.equal(lab.shoal('node1', 'service', 'rm', 'missing').status, 0);
  });

  t.test('--with-registry-auth carries the docker client\'s credentials to the node that pulls', async (t) => {
    const secured = await startRegistry(t, { user: 'tutorial', password: 'pa55-for-the-lab' });
    const image = secured.push('busybox:latest', `secured${lab.prefix}`);
    const withConfig = (...args: string[]) => lab.exec('node1', 'env', `DOCKER_CONFIG=${secured.dockerConfig}`, 'shoal', ...args);

    t.equal(withConfig('service', 'create', '-d', '--name', 'noauth', image, 'sleep', '3600').status, 0);
    const { value: refused } = await until('the task without credentials to be rejected', () => tasks('noauth').find((x) => x.Status.State === 'rejected'), 30_000);
    t.equal(refused.Status.Err, `No such image: ${image}`, 'without the flag nothing is sent, and the registry refuses the pull');
    t.equal(lab.shoal('node1', 'service', 'rm', 'noauth').status, 0);

    const create = withConfig('service', 'create', '--with-registry-auth', '--name', 'authed', image, 'sleep', '3600');
    t.equal(create.status, 0, `with the flag it converges: ${create.err}`);
    t.ok(tasks('authed').some((x) => x.Status.State === 'running'), 'its task runs from the pulled image');
    const reads = [lab.shoal('node1', 'service', 'inspect', 'authed').out, lab.shoal('node2', 'service', 'ls', '--format', 'json').out, lab.shoal('node3', 'service', 'ps', 'authed', '--format', 'json').out].join('\n');
    t.notMatch(reads, /pa55-for-the-lab|RegistryAuth|registryAuth|X-Registry-Auth/i, 'no read of the service or its tasks shows the credentials');
  });
});
