// Registry auth from the docker client's config to the node that pulls: the X-Registry-Auth encoding
// and its checks, image references and their registries, the CLI's lookup of credentials in
// config.json (key forms, credential helpers, nothing stored), and the API's rules for the header on
// create and update (kept, replaced, from the previous spec on rollback, refused when malformed).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { registryAuthForUpdate, registryAuthOf } from '../../src/api/services.js';
import { credentialsFor, hostOfKey, registryAuthHeader, type CredentialHelper } from '../../src/cli/registry-auth.js';
import { parseImageRef, pullReference } from '../../src/model/image-ref.js';
import { decodeRegistryAuth, encodeRegistryAuth, RegistryAuthError } from '../../src/model/registry-auth.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

t.test('X-Registry-Auth: base64url JSON both ways, and malformed headers refused by name', async (t) => {
  const auth = { username: 'me', password: 'p+/?>>', serveraddress: '127.0.0.1:5000' };
  const encoded = encodeRegistryAuth(auth);
  t.notMatch(encoded, /[+/]/, 'the URL alphabet, as Docker\'s EncodeAuthToBase64');
  t.same(decodeRegistryAuth(encoded), auth, 'round trip');
  t.same(JSON.parse(Buffer.from(encoded, 'base64url').toString()), auth, 'plain JSON inside');
  t.same(decodeRegistryAuth(b64(JSON.stringify(auth))), auth, 'the standard alphabet is read too');
  t.same(decodeRegistryAuth(encoded.replace(/=+$/, '')), auth, 'and without padding');
  t.same(decodeRegistryAuth(b64('{"Username":"me","identitytoken":"tok","email":""}')), { username: 'me', identitytoken: 'tok' }, 'field names in any case; empty fields dropped');
  t.same(encodeRegistryAuth({ serveraddress: 'x', username: '' }), b64('{"serveraddress":"x"}').replace(/\+/g, '-').replace(/\//g, '_'), 'empty fields left out');
  for (const [bad, why] of [
    ['', /it is empty/],
    ['not base64!', /it is not base64/],
    [b64('nope'), /does not hold JSON/],
    [b64('[1]'), /must hold a JSON object/],
    [b64('{"user":"x"}'), /unknown field "user"/],
    [b64('{"password":1}'), /password must be a string/],
  ] as const) t.throws(() => decodeRegistryAuth(bad), { name: 'RegistryAuthError', message: why }, `refused: ${JSON.stringify(bad)}`);
});

t.test('image references: the registry they name, and what is pulled', async (t) => {
  t.same(parseImageRef('busybox'), { registry: 'docker.io', path: 'busybox' });
  t.same(parseImageRef('library/redis:7'), { registry: 'docker.io', path: 'library/redis', tag: '7' });
  t.same(parseImageRef('127.0.56.1:5000/busybox'), { registry: '127.0.56.1:5000', path: 'busybox' });
  t.same(parseImageRef('localhost/app:v2'), { registry: 'localhost', path: 'app', tag: 'v2' });
  t.same(parseImageRef('ghcr.io/org/app@sha256:abc'), { registry: 'ghcr.io', path: 'org/app', digest: 'sha256:abc' });
  t.same(parseImageRef('reg:5000/a/b:tag@sha256:abc'), { registry: 'reg:5000', path: 'a/b', tag: 'tag', digest: 'sha256:abc' });
  t.equal(parseImageRef('Upper/app').registry, 'Upper', 'an upper-case first component is a registry, as Docker reads it');
  t.equal(pullReference('127.0.56.1:5000/busybox'), '127.0.56.1:5000/busybox:latest', 'a bare name pulls latest, not every tag');
  t.equal(pullReference('127.0.56.1:5000/busybox:1.36'), '127.0.56.1:5000/busybox:1.36');
  t.equal(pullReference('busybox@sha256:abc'), 'busybox@sha256:abc');
});

t.test('the CLI finds the docker client\'s credentials for the image\'s registry', async (t) => {
  const noHelper: CredentialHelper = () => t.fail('no helper should run') as never;
  const auths = {
    'http://127.0.0.1:5000/v2/': { auth: b64('alice:s3cret:with:colons') },
    'https://index.docker.io/v1/': { auth: b64('hubuser:hubpass') },
    'ghcr.io': { username: 'bob', password: 'pw', identitytoken: 'idt' },
  };
  t.equal(hostOfKey('https://index.docker.io/v1/'), 'index.docker.io');
  t.same(credentialsFor('127.0.0.1:5000', { auths }, noHelper), { serveraddress: '127.0.0.1:5000', username: 'alice', password: 's3cret:with:colons' }, 'a key with scheme and path matches its host');
  t.same(credentialsFor('docker.io', { auths }, noHelper), { serveraddress: 'https://index.docker.io/v1/', username: 'hubuser', password: 'hubpass' }, 'Docker Hub under its index key');
  t.same(credentialsFor('ghcr.io', { auths }, noHelper), { serveraddress: 'ghcr.io', username: 'bob', password: 'pw', identitytoken: 'idt' }, 'separate fields');
  t.same(credentialsFor('other:5000', { auths }, noHelper), { serveraddress: 'other:5000' }, 'nothing stored: only the server, as Docker sends');
  t.throws(() => credentialsFor('x.io', { auths: { 'x.io': { auth: b64('nocolon') } } }, noHelper), /damaged.*docker login x\.io/);

  const asked: string[] = [];
  const helper: CredentialHelper = (name, server) => {
    asked.push(`${name} ${server}`);
    return server === 'https://index.docker.io/v1/' ? { Username: '<token>', Secret: 'refresh' } : server === 'reg.example:5000' ? { Username: 'carol', Secret: 'pw2' } : undefined;
  };
  t.same(credentialsFor('docker.io', { credsStore: 'pass', auths }, helper), { identitytoken: 'refresh', serveraddress: 'https://index.docker.io/v1/' }, 'a credential helper\'s token is an identity token');
  t.same(credentialsFor('reg.example:5000', { credsStore: 'pass', credHelpers: { 'reg.example:5000': 'ecr' } }, helper), { username: 'carol', password: 'pw2', serveraddress: 'reg.example:5000' }, 'credHelpers win over credsStore');
  t.same(credentialsFor('none.example', { credsStore: 'pass' }, helper), { serveraddress: 'none.example' }, 'a helper with nothing: only the server');
  t.same(asked, ['pass https://index.docker.io/v1/', 'ecr reg.example:5000', 'pass none.example']);

  const dir = mkdtempSync(join(tmpdir(), 'shoal-dockercfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths }));
  t.same(decodeRegistryAuth(registryAuthHeader('127.0.0.1:5000/busybox:1', { DOCKER_CONFIG: dir })), { username: 'alice', password: 's3cret:with:colons', serveraddress: '127.0.0.1:5000' }, 'the header, from $DOCKER_CONFIG/config.json');
  t.same(decodeRegistryAuth(registryAuthHeader('busybox', { DOCKER_CONFIG: join(dir, 'absent') })), { serveraddress: 'https://index.docker.io/v1/' }, 'no config file: only the server');
  writeFileSync(join(dir, 'config.json'), '{not json');
  t.throws(() => registryAuthHeader('busybox', { DOCKER_CONFIG: dir }), /cannot read the docker client's config .*config\.json/);
});

t.test('the API: the header is checked and stored on create; update keeps, replaces or takes the previous one', async (t) => {
  const enc = (u: string) => encodeRegistryAuth({ username: u, password: 'x' });
  const req = (header?: string, query = '') => ({ headers: header === undefined ? {} : { 'x-registry-auth': header }, query: new URLSearchParams(query) });
  t.equal(registryAuthOf(req()), undefined, 'no header, nothing stored');
  t.equal(registryAuthOf(req(enc('a'))), enc('a'), 'kept as sent');
  t.throws(() => registryAuthOf(req('%%%')), { status: 400, message: /invalid X-Registry-Auth header/ }, 'a malformed header is a 400 before anything is written');
  t.ok(new RegistryAuthError('x') instanceof Error);

  const record = { registryAuth: enc('now'), previousRegistryAuth: enc('before'), previousSpec: {} as never };
  t.equal(registryAuthForUpdate(req(), record, false), enc('now'), 'an update without the header keeps the service\'s auth (registryAuthFrom=spec)');
  t.equal(registryAuthForUpdate(req(enc('new')), record, false), enc('new'), 'a header replaces it');
  t.equal(registryAuthForUpdate(req(undefined, 'registryAuthFrom=previous-spec'), record, false), enc('before'), 'registryAuthFrom=previous-spec');
  t.equal(registryAuthForUpdate(req(), record, true), enc('before'), 'a rollback goes back to the previous spec\'s auth');
  t.throws(() => registryAuthForUpdate(req(undefined, 'registryAuthFrom=elsewhere'), record, false), { status: 400, message: /unsupported registryAuthFrom value "elsewhere"/ });
  t.throws(() => registryAuthForUpdate(req(undefined, 'registryAuthFrom=previous-spec'), { registryAuth: enc('now') }, false), { status: 400, message: 'service does not have a previous spec' });
  t.equal(registryAuthForUpdate(req(), {}, false), undefined, 'a service without auth stays without');
});
