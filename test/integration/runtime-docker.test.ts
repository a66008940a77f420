// The Docker runtime against the local Docker Engine (busybox:latest, imported): the shared runtime
// contract, pulls of a missing image from a real registry on loopback (with and without the registry
// auth it requires), engine errors (an image no registry has, an engine that does not answer, a name
// taken twice) and the runtime chooser. Every container, tag and registry made here is removed on teardown.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { chooseRuntime, pingDocker } from '../../src/runtime/choose.js';
import { DOCKER_SOCKET, DockerRuntime } from '../../src/runtime/docker.js';
import type { Runtime, RuntimeTask } from '../../src/runtime/runtime.js';
import { encodeRegistryAuth } from '../../src/model/registry-auth.js';
import { uniqueName } from '../lib/kernel.js';
import { registryMissing, startRegistry } from '../lib/registry.js';
import { createTask, runtimeContract, silentLog, taskSpec, type Tap } from './runtime-contract.js';

const execFileP = promisify(execFile);
const IMAGE = 'busybox:latest';
const noEngine = await pingDocker(DOCKER_SOCKET, 2000);
const skip = noEngine ? `the Docker Engine does not answer on ${DOCKER_SOCKET} (${noEngine}); run scripts/docker-engine` : false;

const dataDir = mkdtempSync(join(tmpdir(), 'shoal-rt-docker-'));
t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
const make = (nodeId: string, socketPath?: string): DockerRuntime => new DockerRuntime({ dataDir, nodeId, log: silentLog, ...(socketPath ? { socketPath } : {}) });

async function execIn(_runtime: Runtime, task: RuntimeTask, script: string): Promise<string> {
  const { stdout } = await execFileP('docker', ['exec', task.id, '/bin/busybox', 'sh', '-c', script], { timeout: 15_000 });
  return stdout;
}

async function containerExists(id: string): Promise<boolean> {
  const { stdout } = await execFileP('docker', ['ps', '-a', '-q', '--no-trunc', '--filter', `id=${id}`]);
  return stdout.trim() !== '';
}

t.test('the Docker runtime', { skip }, async (t) => {
  await runtimeContract(t as unknown as Tap, {
    kind: 'docker',
    make: (nodeId) => make(nodeId),
    image: IMAGE,
    www: () => '/tmp/www',
    execIn,
    leftovers: async (task) => ((await containerExists(task.id)) ? [`container ${task.name}`] : []),
    subnet: 2,
  });

  t.test('containers are made as Swarm makes them: name, NetworkMode none, labels, hostname', async (t) => {
    const runtime = make('node-shape');
    const spec = taskSpec(IMAGE, uniqueName('svc'), 'exec /bin/busybox sleep 3600', { hostname: 'shaped' });
    const task = await createTask(t, runtime, spec);
    const { stdout } = await execFileP('docker', ['inspect', task.id]);
    const [info] = JSON.parse(stdout) as { Name: string; Config: { Hostname: string; Labels: Record<string, string> }; HostConfig: { NetworkMode: string; Dns: string[] } }[];
    t.equal(info?.Name, `/${spec.name}`, 'container name is <service>.<slot>.<taskId>');
    t.equal(info?.HostConfig.NetworkMode, 'none', 'NetworkMode none');
    t.same(info?.HostConfig.Dns, ['127.0.0.11'], 'Dns as the spec says');
    t.equal(info?.Config.Hostname, 'shaped', 'hostname');
    t.equal(info?.Config.Labels['com.docker.swarm.task.id'], spec.taskId, 'Swarm task label, for `docker ps --filter`');
  });

  t.test('an image the engine lacks is pulled, with the registry auth the task carries', { skip: registryMissing() }, async (t) => {
    const runtime = make('node-pull');
    const user = { user: 'shoal', password: 'pull-me' };
    const registry = await startRegistry(t, user);
    const ref = registry.push(IMAGE, uniqueName('pulled'));
    const missing = async (r: string) => (await execFileP('docker', ['image', 'inspect', r]).then(() => false, () => true));
    t.ok(await missing(ref), `${ref} is only in the registry`);

    await t.rejects(runtime.create(taskSpec(ref, uniqueName('svc'), 'true')), { code: 'NOT_FOUND', message: `No such image: ${ref}` },
      'without credentials the registry refuses the pull, and create fails with the engine\'s words');
    await t.rejects(runtime.create(taskSpec(ref, uniqueName('svc'), 'true', { registryAuth: encodeRegistryAuth({ username: 'shoal', password: 'wrong', serveraddress: registry.addr }) })),
      { code: 'NOT_FOUND', message: `No such image: ${ref}` }, 'with the wrong password too');
    t.ok(await missing(ref), 'nothing was pulled');

    const auth = encodeRegistryAuth({ username: user.user, password: user.password, serveraddress: registry.addr });
    const task = await createTask(t, runtime, taskSpec(ref, uniqueName('svc'), 'echo pulled-and-ran', { registryAuth: auth }));
    t.notOk(await missing(ref), 'with the task\'s registry auth the engine pulled the image');
    await runtime.start(task.id);
    t.equal(await runtime.wait(task.id), 0, 'and the task ran from it');
    t.teardown(() => registry.untag(ref));
  });

  t.test('engine errors come back as clear runtime errors', async (t) => {
    const runtime = make('node-errors');
    // An image on a registry that does not answer (a closed loopback port): the pull fails, create says what Docker says.
    await t.rejects(runtime.create(taskSpec('127.0.0.1:9/shoal-nosuch', 'svc', 'true')), {
      code: 'NOT_FOUND',
      message: 'No such image: 127.0.0.1:9/shoal-nosuch:latest',
    }, 'an image that cannot be pulled is NOT_FOUND, in the engine\'s words');
    if (!registryMissing()) {
      const registry = await startRegistry(t);
      await t.rejects(runtime.create(taskSpec(`${registry.addr}/nosuch:v1`, 'svc', 'true')), { code: 'NOT_FOUND', message: `No such image: ${registry.addr}/nosuch:v1` },
        'an image the registry does not have: the same');
    }

    const spec = taskSpec(IMAGE, uniqueName('svc'), 'true');
    await createTask(t, runtime, spec);
    await t.rejects(runtime.create({ ...spec, taskId: `${spec.taskId.slice(0, 24)}x` }), { code: 'CONFLICT' }, 'a container name taken twice is a CONFLICT');

    await t.rejects(runtime.start('no-such-container-shoal'), { code: 'NOT_FOUND' }, 'start of an unknown container');
    t.equal(await runtime.inspect('no-such-container-shoal'), undefined, 'inspect of an unknown container');
    await runtime.remove('no-such-container-shoal'); // fine
    await t.rejects(runtime.netns(spec.name), { code: 'INVALID', message: /not running/ }, 'no namespace before it runs');

    const down = make('node-down', join(dataDir, 'no-engine.sock'));
    await t.rejects(down.list(), { code: 'UNAVAILABLE', message: /does not answer on .*no-engine\.sock/ }, 'an engine that is not there is UNAVAILABLE');
    await t.rejects(down.create(taskSpec(IMAGE, 'svc', 'true')), { code: 'UNAVAILABLE' }, 'create too');
  });
});

t.test('chooseRuntime', async (t) => {
  const bogus = join(dataDir, 'no-engine.sock');
  const common = { dataDir, nodeId: 'node-choose', log: silentLog };
  t.equal((await chooseRuntime({ ...common, kind: 'exec' })).kind, 'exec', 'exec when asked');
  t.equal((await chooseRuntime({ ...common, kind: 'auto', dockerSocket: bogus })).kind, 'exec', 'auto without an engine: exec');
  await t.rejects(chooseRuntime({ ...common, kind: 'docker', dockerSocket: bogus }), { code: 'UNAVAILABLE', message: /docker runtime was asked for/ }, 'docker without an engine: a clear error');
  await t.rejects(chooseRuntime({ ...common, kind: 'podman' as 'auto' }), { code: 'INVALID' }, 'an unknown kind');
  if (!skip) t.equal((await chooseRuntime({ ...common, kind: 'auto' })).kind, 'docker', 'auto with the engine answering: docker');
});
