// The API router: Docker's /vN.NN prefix, path parameters, 404 versus 405.
import t from 'tap';
import { ApiError } from '../../src/api/http.js';
import { compareVersions, Router, splitVersion } from '../../src/api/router.js';

t.test('version prefixes are split off', async (t) => {
  t.same(splitVersion('/v1.41/_ping'), { version: '1.41', path: '/_ping' });
  t.same(splitVersion('/_ping'), { version: undefined, path: '/_ping' });
  t.same(splitVersion('/v1.41'), { version: '1.41', path: '/' });
  t.same(splitVersion('/version'), { version: undefined, path: '/version' }, '/version is a path, not a prefix');
});

t.test('versions compare numerically', async (t) => {
  t.ok(compareVersions('1.41', '1.9') > 0);
  t.ok(compareVersions('1.12', '1.41') < 0);
  t.equal(compareVersions('1.41', '1.41'), 0);
});

t.test('routes match method and pattern, with parameters', async (t) => {
  const r = new Router();
  const a = () => ({ body: 'a' });
  const b = () => ({ body: 'b' });
  r.add('GET', '/nodes', a).add('POST', '/nodes/{id}/update', b);
  t.equal(r.match('GET', '/nodes').handler, a);
  t.equal(r.match('HEAD', '/nodes').handler, a, 'HEAD is served by GET');
  const m = r.match('POST', '/nodes/abc%20d/update');
  t.equal(m.handler, b);
  t.same(m.params, { id: 'abc d' });
  t.throws(() => r.match('GET', '/nodes/x'), new ApiError(404, 'page not found'));
  t.throws(() => r.match('DELETE', '/nodes'), new ApiError(405, 'method DELETE not allowed on /nodes'));
});
