// The Go types Docker's CLI decodes `service inspect`, `node inspect` and `network inspect` into (Engine API
// 1.41, field order as in moby's api/types), so an inspect template sees Go values: `{{.Endpoint.VirtualIPs}}`
// prints `[{<network id> 10.0.0.2/24}]`, omitted fields print as their zero values, durations as `5s`.
import { T, type GoType } from './values.js';

const s = T.string;
const u64 = { kind: 'int', name: 'uint64' } as GoType;
const i64 = { kind: 'int', name: 'int64' } as GoType;
const labels = T.map(T.string);
const strings = T.slice(T.string);

const Version = T.struct('swarm.Version', [['Index', u64]]);
const Meta = T.struct('swarm.Meta', [['Version', Version], ['CreatedAt', T.time], ['UpdatedAt', T.time]]);
const Annotations = T.struct('swarm.Annotations', [['Name', s], ['Labels', labels]]);
const Platform = T.struct('swarm.Platform', [['Architecture', s], ['OS', s]]);
const GenericResources = T.slice(T.any);
const Resources = T.struct('swarm.Resources', [['NanoCPUs', i64], ['MemoryBytes', i64], ['GenericResources', GenericResources]]);
const Limit = T.struct('swarm.Limit', [['NanoCPUs', i64], ['MemoryBytes', i64], ['Pids', i64]]);

const PortConfig = T.struct('swarm.PortConfig', [['Name', s], ['Protocol', s], ['TargetPort', { kind: 'int', name: 'uint32' }], ['PublishedPort', { kind: 'int', name: 'uint32' }], ['PublishMode', s]]);
const EndpointSpec = T.struct('swarm.EndpointSpec', [['Mode', s], ['Ports', T.slice(PortConfig)]]);
const EndpointVirtualIP = T.struct('swarm.EndpointVirtualIP', [['NetworkID', s], ['Addr', s]]);
const Endpoint = T.struct('swarm.Endpoint', [['Spec', EndpointSpec], ['Ports', T.slice(PortConfig)], ['VirtualIPs', T.slice(EndpointVirtualIP)]]);

const HealthConfig = T.struct('container.HealthConfig', [['Test', strings], ['Interval', T.duration], ['Timeout', T.duration], ['StartPeriod', T.duration], ['Retries', { kind: 'int' }]]);
const ContainerSpec = T.struct('swarm.ContainerSpec', [
  ['Image', s], ['Labels', labels], ['Command', strings], ['Args', strings], ['Hostname', s], ['Env', strings], ['Dir', s], ['User', s],
  ['Groups', strings], ['Privileges', T.ptr(T.any)], ['Init', T.ptr(T.bool)], ['StopSignal', s], ['TTY', T.bool], ['OpenStdin', T.bool],
  ['ReadOnly', T.bool], ['Mounts', T.slice(T.any)], ['StopGracePeriod', T.ptr(T.duration)], ['Healthcheck', T.ptr(HealthConfig)],
  ['Hosts', strings], ['DNSConfig', T.ptr(T.any)], ['Secrets', T.slice(T.any)], ['Configs', T.slice(T.any)], ['Isolation', s],
  ['Sysctls', labels], ['CapabilityAdd', strings], ['CapabilityDrop', strings], ['Ulimits', T.slice(T.any)],
]);
const RestartPolicy = T.struct('swarm.RestartPolicy', [['Condition', s], ['Delay', T.ptr(T.duration)], ['MaxAttempts', T.ptr(u64)], ['Window', T.ptr(T.duration)]]);
const PlacementPreference = T.struct('swarm.PlacementPreference', [['Spread', T.ptr(T.struct('swarm.SpreadOver', [['SpreadDescriptor', s]]))]]);
const Placement = T.struct('swarm.Placement', [['Constraints', strings], ['Preferences', T.slice(PlacementPreference)], ['MaxReplicas', u64], ['Platforms', T.slice(Platform)]]);
const NetworkAttachmentConfig = T.struct('swarm.NetworkAttachmentConfig', [['Target', s], ['Aliases', strings], ['DriverOpts', labels]]);
const Driver = T.struct('swarm.Driver', [['Name', s], ['Options', labels]]);
const TaskSpec = T.struct('swarm.TaskSpec', [
  ['ContainerSpec', T.ptr(ContainerSpec)], ['PluginSpec', T.ptr(T.any)], ['NetworkAttachmentSpec', T.ptr(T.any)],
  ['Resources', T.ptr(T.struct('swarm.ResourceRequirements', [['Limits', T.ptr(Limit)], ['Reservations', T.ptr(Resources)]]))],
  ['RestartPolicy', T.ptr(RestartPolicy)], ['Placement', T.ptr(Placement)], ['Networks', T.slice(NetworkAttachmentConfig)],
  ['LogDriver', T.ptr(Driver)], ['ForceUpdate', u64], ['Runtime', s],
]);
const ServiceMode = T.struct('swarm.ServiceMode', [
  ['Replicated', T.ptr(T.struct('swarm.ReplicatedService', [['Replicas', T.ptr(u64)]]))],
  ['Global', T.ptr(T.struct('swarm.GlobalService', []))],
  ['ReplicatedJob', T.ptr(T.struct('swarm.ReplicatedJob', [['MaxConcurrent', T.ptr(u64)], ['TotalCompletions', T.ptr(u64)]]))],
  ['GlobalJob', T.ptr(T.struct('swarm.GlobalJob', []))],
]);
const UpdateConfig = T.struct('swarm.UpdateConfig', [['Parallelism', u64], ['Delay', T.duration], ['FailureAction', s], ['Monitor', T.duration], ['MaxFailureRatio', { kind: 'float', name: 'float32' }], ['Order', s]]);
const ServiceSpec = T.struct('swarm.ServiceSpec', [
  ['Annotations', Annotations, { embedded: true }], ['TaskTemplate', TaskSpec], ['Mode', ServiceMode], ['UpdateConfig', T.ptr(UpdateConfig)],
  ['RollbackConfig', T.ptr(UpdateConfig)], ['Networks', T.slice(NetworkAttachmentConfig)], ['EndpointSpec', T.ptr(EndpointSpec)],
]);
const UpdateStatus = T.struct('swarm.UpdateStatus', [['State', s], ['StartedAt', T.ptr(T.time)], ['CompletedAt', T.ptr(T.time)], ['Message', s]]);
const ServiceStatus = T.struct('swarm.ServiceStatus', [['RunningTasks', u64], ['DesiredTasks', u64], ['CompletedTasks', u64]]);

export const ServiceType = T.struct('swarm.Service', [
  ['ID', s], ['Meta', Meta, { embedded: true }], ['Spec', ServiceSpec], ['PreviousSpec', T.ptr(ServiceSpec)], ['Endpoint', Endpoint],
  ['UpdateStatus', T.ptr(UpdateStatus)], ['ServiceStatus', T.ptr(ServiceStatus)], ['JobStatus', T.ptr(T.any)],
]);

const TLSInfo = T.struct('swarm.TLSInfo', [['TrustRoot', s], ['CertIssuerSubject', T.bytes], ['CertIssuerPublicKey', T.bytes]]);
const NodeDescription = T.struct('swarm.NodeDescription', [
  ['Hostname', s], ['Platform', Platform], ['Resources', Resources],
  ['Engine', T.struct('swarm.EngineDescription', [['EngineVersion', s], ['Labels', labels], ['Plugins', T.slice(T.struct('swarm.PluginDescription', [['Type', s], ['Name', s]]))]])],
  ['TLSInfo', TLSInfo],
]);
export const NodeType = T.struct('swarm.Node', [
  ['ID', s], ['Meta', Meta, { embedded: true }],
  ['Spec', T.struct('swarm.NodeSpec', [['Annotations', Annotations, { embedded: true }], ['Role', s], ['Availability', s]])],
  ['Description', NodeDescription],
  ['Status', T.struct('swarm.NodeStatus', [['State', s], ['Message', s], ['Addr', s]])],
  ['ManagerStatus', T.ptr(T.struct('swarm.ManagerStatus', [['Leader', T.bool], ['Reachability', s], ['Addr', s]]))],
]);

const IPAMConfig = T.struct('network.IPAMConfig', [['Subnet', s], ['IPRange', s], ['Gateway', s], ['AuxAddress', labels, { json: 'AuxiliaryAddresses' }]]);
const EndpointResource = T.struct('types.EndpointResource', [['Name', s], ['EndpointID', s], ['MacAddress', s], ['IPv4Address', s], ['IPv6Address', s]]);
const ServiceInfo = T.struct('network.ServiceInfo', [
  ['VIP', s], ['Ports', strings], ['LocalLBIndex', { kind: 'int' }],
  ['Tasks', T.slice(T.struct('network.Task', [['Name', s], ['EndpointID', s], ['EndpointIP', s], ['Info', labels]]))],
]);
export const NetworkType = T.struct('types.NetworkResource', [
  ['Name', s], ['ID', s, { json: 'Id' }], ['Created', T.time], ['Scope', s], ['Driver', s], ['EnableIPv6', T.bool],
  ['IPAM', T.struct('network.IPAM', [['Driver', s], ['Options', labels], ['Config', T.slice(IPAMConfig)]])],
  ['Internal', T.bool], ['Attachable', T.bool], ['Ingress', T.bool], ['ConfigFrom', T.struct('network.ConfigReference', [['Network', s]])],
  ['ConfigOnly', T.bool], ['Containers', T.map(EndpointResource)], ['Options', labels], ['Labels', labels],
  ['Peers', T.slice(T.struct('network.PeerInfo', [['Name', s], ['IP', s]]))], ['Services', T.map(ServiceInfo)],
]);
