// Object names as swarmkit's control API checks them: what Docker accepts (stack names like app_web)
// is accepted, what it refuses is refused with Docker's words, for services (through the spec
// normalizer), networks (through the API's create check), and secrets and configs.
import t from 'tap';
import { validateCreate } from '../../src/api/networks.js';
import { checkObjectName, checkSecretName, NameError, objectNameProblem, secretNameProblem } from '../../src/model/names.js';
import { normalizeServiceSpec } from '../../src/model/service.js';

const DNS = 'name must be valid as a DNS name component';

t.test('service and network names follow swarmkit\'s DNS component rule', async (t) => {
  for (const ok of ['web', 'app_web', 'app-web', 'a', 'A1', 'my__stack--svc_1', 'x'.repeat(63), '9lives']) {
    t.equal(objectNameProblem(ok), undefined, `${ok} is valid`);
  }
  for (const bad of ['app.web', '_web', '-web', 'web-', 'web_', 'we b', 'wéb', 'web/1', 'web:1']) {
    t.equal(objectNameProblem(bad), DNS, `${bad} is refused`);
  }
  t.equal(objectNameProblem('x'.repeat(64)), 'name must be 63 characters or fewer');
  t.equal(objectNameProblem(''), 'meta: name must be provided');
  t.equal(objectNameProblem(undefined), 'meta: name must be provided');
  t.throws(() => checkObjectName('a.b'), new NameError(DNS));
  t.equal(new NameError(DNS).message, `rpc error: code = InvalidArgument desc = ${DNS}`);
});

t.test('secret and config names also allow dots, up to 64 characters', async (t) => {
  for (const ok of ['db.password', 'site.key_v2', 'a', 'x'.repeat(64)]) t.equal(secretNameProblem(ok), undefined, `${ok} is valid`);
  const msg = 'invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]';
  for (const bad of ['.hidden', 'key.', 'a b', 'x'.repeat(65), 'a/b']) t.equal(secretNameProblem(bad), msg, `${bad} is refused`);
  t.equal(secretNameProblem(''), 'name must be provided');
  t.throws(() => checkSecretName('-x'), NameError);
});

t.test('the service spec normalizer takes stack service names and refuses invalid ones in Docker\'s words', async (t) => {
  const spec = (Name: unknown) => ({ Name, TaskTemplate: { ContainerSpec: { Image: 'busybox' } } });
  t.equal(normalizeServiceSpec(spec('app_web'), (n) => n).Name, 'app_web');
  t.throws(() => normalizeServiceSpec(spec('app.web'), (n) => n), { name: 'NameError', message: `rpc error: code = InvalidArgument desc = ${DNS}` });
  t.throws(() => normalizeServiceSpec(spec('w'.repeat(64)), (n) => n), { message: /name must be 63 characters or fewer$/ });
  t.throws(() => normalizeServiceSpec(spec(''), (n) => n), { message: /meta: name must be provided$/ });
});

t.test('network create checks the name before anything else, with Docker\'s status and words', async (t) => {
  t.equal(validateCreate({ Name: 'app_default', Driver: 'overlay' }, []).name, 'app_default');
  t.throws(() => validateCreate({ Name: 'app.net' }, []), { status: 400, message: `rpc error: code = InvalidArgument desc = ${DNS}` });
  t.throws(() => validateCreate({}, []), { status: 400, message: /meta: name must be provided$/ });
});
