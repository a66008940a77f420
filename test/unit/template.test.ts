// The Go template engine behind --format: parsing, field access on Go-typed and raw JSON values, Go's
// printing of structs/maps/slices/times/durations, control structures, builtins, Docker's functions,
// tables through tabwriter, and Go's error messages. Expected strings are what Go/Docker print.
import t from 'tap';
import { compile, renderInspect, renderList, StatusError, templateString } from '../../src/cli/format.js';
import { tabwrite } from '../../src/cli/tabwriter.js';
import { NetworkType, NodeType, ServiceType } from '../../src/cli/template/docker-types.js';
import { execute, ExecError } from '../../src/cli/template/exec.js';
import { goDuration, goFloat, goTime, T, val, type Val } from '../../src/cli/template/values.js';

const service = {
  ID: 'kq2dz0ojvb1mzn3gcugqmisyk',
  Version: { Index: 27 },
  CreatedAt: '2026-12-07T21:00:00.5Z',
  UpdatedAt: '2026-12-07T21:01:00Z',
  Spec: {
    Name: 'web', Labels: { tier: 'front', app: 'shop' },
    TaskTemplate: { ContainerSpec: { Image: 'nginx:1.25', Args: ['-g', 'daemon off;'], Env: ['A=1'] }, RestartPolicy: { Condition: 'any', Delay: 5_000_000_000 } },
    Mode: { Replicated: { Replicas: 3 } },
    UpdateConfig: { Parallelism: 1, Delay: 90_000_000_000, FailureAction: 'pause', Order: 'stop-first' },
    EndpointSpec: { Mode: 'vip', Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }] },
  },
  Endpoint: {
    Spec: { Mode: 'vip', Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }] },
    Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }],
    VirtualIPs: [{ NetworkID: '4hxwa3v0yyn0z1s5uwuqxgnbd', Addr: '10.255.0.5/16' }, { NetworkID: 'y2ovfxtk3ocfbm5tkyvcj1kfv', Addr: '10.0.9.2/24' }],
  },
  ServiceStatus: { RunningTasks: 3, DesiredTasks: 3 },
};
const svc = val(ServiceType, service);

const run = (src: string, data: Val, missingKey: 'default' | 'error' = 'default') => execute(compile(src), data, { missingKey });
const fails = (src: string, data: Val) => {
  try {
    run(src, data);
  } catch (err) {
    return (err as Error).message;
  }
  return 'no error';
};

t.test('field access, nested, embedded fields and Go printing of typed values', async (t) => {
  t.equal(run('{{.Endpoint.VirtualIPs}}', svc), '[{4hxwa3v0yyn0z1s5uwuqxgnbd 10.255.0.5/16} {y2ovfxtk3ocfbm5tkyvcj1kfv 10.0.9.2/24}]', 'the tutorial: a slice of structs');
  t.equal(run('{{.Spec.Name}} {{.ID}}', svc), 'web kq2dz0ojvb1mzn3gcugqmisyk');
  t.equal(run('{{.Version.Index}} {{.Version}}', svc), '27 {27}', 'embedded Meta promotes Version');
  t.equal(run('{{.CreatedAt}}', svc), '2026-12-07 21:00:00.5 +0000 UTC', 'time.Time prints as Go');
  t.equal(run('{{.UpdatedAt}}', svc), '2026-12-07 21:01:00 +0000 UTC');
  t.equal(run('{{.Endpoint.Ports}}', svc), '[{ tcp 80 8080 ingress}]', 'PortConfig with its empty Name first');
  t.equal(run('{{.Spec.Labels}}', svc), 'map[app:shop tier:front]', 'maps print with sorted keys');
  t.equal(run('{{.ServiceStatus}}', svc), '{3 3 0}', 'a pointer field is dereferenced for printing; omitted fields are zero');
  t.equal(run('{{.Spec.UpdateConfig.Delay}} {{.Spec.TaskTemplate.RestartPolicy.Delay}}', svc), '1m30s 5s', 'durations');
  t.equal(run('{{.Spec.RollbackConfig}}', svc), '<nil>', 'a nil pointer');
  t.equal(run('{{.Spec.TaskTemplate.ContainerSpec.Args}}', svc), '[-g daemon off;]');
  t.equal(run('{{.Spec.TaskTemplate.ContainerSpec.Mounts}}', svc), '[]', 'a nil slice prints []');
  t.equal(fails('{{.UpdateStatus.State}}', svc), 'template: :1:2: executing "" at <.UpdateStatus.State>: nil pointer evaluating *swarm.UpdateStatus.State');
});

t.test('json, index, range, if/else, with, variables, pipes', async (t) => {
  t.equal(run('{{json .Endpoint.VirtualIPs}}', svc), '[{"NetworkID":"4hxwa3v0yyn0z1s5uwuqxgnbd","Addr":"10.255.0.5/16"},{"NetworkID":"y2ovfxtk3ocfbm5tkyvcj1kfv","Addr":"10.0.9.2/24"}]');
  t.equal(run('{{json .Spec.Labels}}', svc), '{"app":"shop","tier":"front"}', 'json of a map: sorted keys');
  t.equal(run('{{json .Spec.Name}}', svc), '"web"');
  t.equal(run('{{json "<&>"}}', svc), '"<&>"', 'no HTML escaping, as Docker sets');
  t.equal(run('{{index .Spec.Labels "tier"}}|{{index .Spec.Labels "nope"}}|', svc), 'front||', 'index of a missing key: the zero value');
  t.equal(run('{{(index .Endpoint.VirtualIPs 1).Addr}}', svc), '10.0.9.2/24');
  t.equal(run('{{range .Endpoint.VirtualIPs}}{{.Addr}},{{end}}', svc), '10.255.0.5/16,10.0.9.2/24,');
  t.equal(run('{{range $i, $v := .Endpoint.VirtualIPs}}{{$i}}={{$v.NetworkID}} {{end}}', svc), '0=4hxwa3v0yyn0z1s5uwuqxgnbd 1=y2ovfxtk3ocfbm5tkyvcj1kfv ');
  t.equal(run('{{range $k, $v := .Spec.Labels}}{{$k}}={{$v}};{{end}}', svc), 'app=shop;tier=front;', 'range over a map: sorted keys');
  t.equal(run('{{range .Spec.TaskTemplate.ContainerSpec.Mounts}}x{{else}}none{{end}}', svc), 'none');
  t.equal(run('{{range .Endpoint.VirtualIPs}}{{if eq .Addr "10.255.0.5/16"}}{{continue}}{{end}}{{.Addr}}{{break}}{{end}}', svc), '10.0.9.2/24');
  t.equal(run('{{if .Spec.Mode.Global}}global{{else if .Spec.Mode.Replicated}}replicated {{.Spec.Mode.Replicated.Replicas}}{{else}}?{{end}}', svc), 'replicated 3');
  t.equal(run('{{with .Spec.UpdateConfig}}{{.Order}}{{end}}|{{with .Spec.RollbackConfig}}x{{else}}no rollback config{{end}}', svc), 'stop-first|no rollback config');
  t.equal(run('{{$n := .Spec.Name}}{{range .Endpoint.VirtualIPs}}{{$n}}@{{.Addr}} {{end}}{{$.ID}}', svc), 'web@10.255.0.5/16 web@10.0.9.2/24 kq2dz0ojvb1mzn3gcugqmisyk');
  t.equal(run('{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}', svc), '2', 'assignment reaches the outer variable');
  t.equal(run('{{.Spec.Name | upper | printf "%s!"}}', svc), 'WEB!', 'a pipe passes the value as the last argument');
  t.equal(run('{{- " a " -}}  \n b{{/* a comment */}}', svc), ' a b', 'trim markers and comments');
  t.equal(run('{{len .Endpoint.VirtualIPs}} {{len .Spec.Name}} {{len .Spec.Labels}}', svc), '2 3 2');
  t.equal(run('{{and 1 0 2}} {{or 0 "" "x"}} {{not .Spec.Name}}', svc), '0 x false');
  t.equal(run('{{eq .Spec.Name "db" "web"}} {{ne 1 2}} {{lt 1 2}} {{ge "b" "a"}}', svc), 'true true true true');
  t.equal(run('{{print 1 2 "a" "b" 3}}|{{println "x" 1}}', svc), '1 2ab3|x 1\n', 'fmt.Sprint spacing rules: a space only between two non-strings');
  t.equal(run('{{printf "%-5s|%3d|%v|%q" "ab" 7 .Version "x"}}', svc), 'ab   |  7|{27}|"x"');
  t.equal(run('{{slice .Spec.Name 1 3}}', svc), 'eb');
  t.equal(run('{{define "n"}}[{{.}}]{{end}}{{template "n" .Spec.Name}}', svc), '[web]');
});

t.test("Docker's functions", async (t) => {
  t.equal(run('{{split "a:b:c" ":"}}', svc), '[a b c]');
  t.equal(run('{{join .Spec.TaskTemplate.ContainerSpec.Args ","}}', svc), '-g,daemon off;');
  t.equal(run('{{join .Spec.Labels ","}}', svc), 'front,shop', 'join of a map: its sorted values');
  t.equal(run('{{lower "ABC"}} {{upper "abc"}} {{title "hello big-world"}}', svc), 'abc ABC Hello Big-World');
  t.equal(run('[{{pad .Spec.Name 2 1}}][{{pad "" 2 1}}]', svc), '[  web ][]', 'pad leaves an empty string alone');
  t.equal(run('{{truncate .ID 5}} {{truncate "ab" 5}}', svc), 'kq2dz ab');
  t.equal(fails('{{upper .ServiceStatus.RunningTasks}}', svc), 'template: :1:2: executing "" at <upper>: wrong type for value; expected string; got uint64');
});

t.test('raw JSON (interface{}) values, as Docker\'s inspect fallback sees them', async (t) => {
  const raw = val(T.any, service);
  t.equal(run('{{.Endpoint.VirtualIPs}}', raw), '[map[Addr:10.255.0.5/16 NetworkID:4hxwa3v0yyn0z1s5uwuqxgnbd] map[Addr:10.0.9.2/24 NetworkID:y2ovfxtk3ocfbm5tkyvcj1kfv]]');
  t.equal(run('{{.Nope}}', raw), '<no value>', 'missingkey=default');
  t.equal(run('{{index .Spec "Nope"}}', raw), '<nil>', 'index of a missing key of map[string]interface{}: a nil interface');
  t.throws(() => run('{{.Nope}}', raw, 'error'), /map has no entry for key "Nope"/);
});

t.test('parse and execution errors read as Go\'s', async (t) => {
  const parseErr = (src: string) => {
    try {
      compile(src);
    } catch (err) {
      t.type(err, StatusError);
      return (err as Error).message;
    }
    return 'no error';
  };
  t.equal(parseErr('{{.Spec.Name'), 'template parsing error: template: :1: unclosed action');
  t.equal(parseErr('{{nosuch .}}'), 'template parsing error: template: :1: function "nosuch" not defined');
  t.equal(parseErr('{{end}}'), 'template parsing error: template: :1: unexpected {{end}}');
  t.equal(parseErr('{{if .X}}\nno end'), 'template parsing error: template: :2: unexpected EOF');
  t.equal(parseErr('{{$x}}'), 'template parsing error: template: :1: undefined variable "$x"');
  t.equal(parseErr('{{range .X}}{{else}}{{else}}{{end}}'), 'template parsing error: template: :1: expected end; found {{else}}');
  t.equal(parseErr('{{break}}'), 'template parsing error: template: :1: {{break}} outside {{range}}');
  t.equal(fails('{{.Nope}}', svc), 'template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type swarm.Service');
  t.equal(fails('x\n  {{.Spec.Nope}}', svc), 'template: :2:4: executing "" at <.Spec.Nope>: can\'t evaluate field Nope in type swarm.ServiceSpec');
  t.equal(fails('{{index .Endpoint.VirtualIPs 5}}', svc), 'template: :1:2: executing "" at <index>: error calling index: index out of range: 5');
  t.equal(fails('{{.Spec.Name.Foo}}', svc), 'template: :1:2: executing "" at <.Spec.Name.Foo>: can\'t evaluate field Foo in type string');
  try {
    run('ab{{.Nope}}', svc);
    t.fail('should throw');
  } catch (err) {
    t.equal((err as ExecError).partial, 'ab', 'what was written before the failure is kept (Docker keeps it for headers)');
  }
});

t.test('inspect: typed first, then the raw JSON with missingkey=error; parse errors exit 64', async (t) => {
  t.same(renderInspect('{{.Endpoint.VirtualIPs}}', [service], ServiceType), { text: '[{4hxwa3v0yyn0z1s5uwuqxgnbd 10.255.0.5/16} {y2ovfxtk3ocfbm5tkyvcj1kfv 10.0.9.2/24}]\n', errors: [] });
  t.same(renderInspect('{{.Spec.Name}}', [service, { ...service, Spec: { ...service.Spec, Name: 'db' } }], ServiceType).text, 'web\ndb\n', 'one line per object');
  t.same(renderInspect('{{.ShoalOnly}}', [{ ...service, ShoalOnly: 'x' }], ServiceType).text, 'x\n', 'a field outside Docker\'s type is still reachable through the raw fallback');
  t.same(renderInspect('{{.Nope}}', [service], ServiceType), { text: '\n', errors: ['template parsing error: template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"'] });
  t.equal(renderInspect(undefined, [service], ServiceType).text, JSON.stringify([service], null, 4) + '\n');
  t.equal(renderInspect('json', [service], ServiceType).text, JSON.stringify([service]) + '\n');
  try {
    renderInspect('{{.Spec', [service], ServiceType);
    t.fail('should throw');
  } catch (err) {
    t.equal((err as StatusError).exitCode, 64);
    t.equal((err as Error).message, 'template parsing error: template: :1: unclosed action');
  }
  const node = { ID: 'n1', Description: { Hostname: 'node2', Resources: { NanoCPUs: 2e9, MemoryBytes: 1024 } }, Status: { State: 'ready', Addr: '10.0.0.2' }, Spec: { Role: 'worker', Availability: 'active', Labels: {} } };
  t.equal(renderInspect('{{.Status.Addr}} {{.Spec.Role}} {{.Description.Resources}} {{.ManagerStatus}}', [node], NodeType).text, '10.0.0.2 worker {2000000000 1024 []} <nil>\n');
  const net = { Name: 'appnet', Id: 'abc', Created: '2026-12-07T21:00:00Z', IPAM: { Driver: 'default', Config: [{ Subnet: '10.0.9.0/24', Gateway: '10.0.9.1' }] }, Options: { 'com.docker.network.driver.overlay.vxlanid_list': '4097' } };
  t.equal(renderInspect('{{.ID}} {{range .IPAM.Config}}{{.Subnet}} via {{.Gateway}}{{end}} {{index .Options "com.docker.network.driver.overlay.vxlanid_list"}} {{.IPAM.Config}}', [net], NetworkType).text, 'abc 10.0.9.0/24 via 10.0.9.1 4097 [{10.0.9.0/24  10.0.9.1 map[]}]\n');
});

t.test('tables: tabwriter alignment, header row from the column titles, templateString', async (t) => {
  t.equal(tabwrite('ID\tNAME\nabcdefghijkl\tweb\n'), 'ID             NAME\nabcdefghijkl   web\n', 'minwidth 10, padding 3; the last cell is not padded');
  t.equal(tabwrite('a\tb\tc\nlonger\n1\t2\t3\n'), 'a         b         c\nlonger\n1         2         3\n', 'a line without the column ends the block');
  t.equal(tabwrite('x\t\n'), 'x         \n', 'an empty last cell: the one before is padded (Docker\'s trailing spaces)');
  t.equal(tabwrite('é\tb\n'), 'é         b\n', 'width counts characters, not bytes');
  t.equal(templateString('table {{.ID}}\\t{{.Name}}'), '{{.ID}}\t{{.Name}}');
  t.equal(templateString('json'), '{{json .}}');
  t.equal(templateString('  {{.ID}}\\n '), '{{.ID}}\n');
  const row = (name: string): Val => val({ kind: 'struct', name: '*x.ctx', rowContext: true, fields: [{ name: 'ID', type: T.string }, { name: 'Name', type: T.string }] }, { ID: `id-${name}`, Name: name });
  const headers = { ID: 'ID', Name: 'NAME' };
  t.equal(renderList('table {{.ID}}\\t{{.Name}}', [row('a'), row('bb')], headers), 'ID        NAME\nid-a      a\nid-bb     bb\n');
  t.equal(renderList('table {{.Name | upper}}:{{json .ID}}', [row('a')], headers), 'NAME:ID\nA:"id-a"\n', 'header functions leave the titles as they are');
  t.equal(renderList('table {{.Name}}', [], headers), 'NAME\n', 'an empty table still has its header');
  t.equal(renderList('{{.Name}}', [], headers), '', 'no rows, no output');
  t.equal(renderList('{{json .}}', [row('a')], headers), '{"ID":"id-a","Name":"a"}\n', 'json of a row: its fields, sorted');
  t.throws(() => renderList('{{.Nope}}', [row('a')], headers), { message: 'template parsing error: template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type *x.ctx' });
});

t.test('Go value formatting helpers', async (t) => {
  t.equal(goDuration(0), '0s');
  t.equal(goDuration(1_500_000_000), '1.5s');
  t.equal(goDuration(3_723_000_000_000), '1h2m3s');
  t.equal(goDuration(250_000_000), '250ms');
  t.equal(goTime('2026-01-02T03:04:05.120000Z'), '2026-01-02 03:04:05.12 +0000 UTC');
  t.equal(goFloat(1e6), '1e+06');
  t.equal(goFloat(0.5), '0.5');
  t.equal(goFloat(123456), '123456');
  t.equal(goFloat(1234567), '1.234567e+06');
  t.equal(goFloat(0.00001), '1e-05');
});
