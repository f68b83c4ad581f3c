// The service record a monitor keeps in etcd for a healthy container (SPEC §3): its key
// `<prefix>/<IMAGENAME>/<container id>` and its value, a compact JSON whose bytes are part of
// the contract (consumers of the original tool compare and parse them). Pure functions over
// the few container-inspect fields they need.

export const DEFAULT_ETCD_PREFIX = '/SERVICE';

/** One host binding of a container port, as in Docker's `NetworkSettings.Ports`. */
export interface PortBinding {
  HostIp?: string;
  HostPort?: string;
}

/** The fields of dockerode's `ContainerInspectInfo` that a record is built from. */
export interface RecordContainer {
  /** full 64-hex id */
  Id: string;
  /** with Docker's leading slash, e.g. `/server` */
  Name: string;
  Config?: { ExposedPorts?: Record<string, unknown> | null } | null;
  /** `{"9000/tcp": [{"HostIp":"0.0.0.0","HostPort":"49153"}], "53/udp": null}` */
  NetworkSettings?: { Ports?: Record<string, PortBinding[] | null | undefined> | null } | null;
}

/** One entry of `Ports`; field order is the JSON's. */
export interface ServicePort {
  IP: string;
  PrivatePort: number;
  PublicPort: number;
  Type: string;
}

export interface ServiceRecord {
  IP: string;
  Name: string;
  Ports: ServicePort[];
}

export interface ServiceRecordInput {
  container: RecordContainer;
  /** from `imageNameOf` */
  imageName: string;
  /** the container's address on its network (`containerIpOf`) */
  containerIp: string;
  /** the host's advertised address, put where Docker bound a port on every address */
  hostIp: string;
  /** default `/SERVICE` */
  prefix?: string;
}

/** The key and the exact value to keep in etcd for one container. */
export function serviceRecordOf(input: ServiceRecordInput): {
  key: string;
  value: string;
  record: ServiceRecord;
} {
  const record: ServiceRecord = {
    IP: input.containerIp,
    Name: input.container.Name,
    Ports: servicePortsOf(input.container, input.hostIp),
  };
  return {
    key: serviceKeyOf(input.prefix ?? DEFAULT_ETCD_PREFIX, input.imageName, input.container.Id),
    value: serviceValueOf(record),
    record,
  };
}

/**
 * `<prefix>/<imageName>/<containerId>`. The prefix is taken as an absolute path whatever the
 * user typed (`SERVICE`, `/SERVICE/`), so two spellings of one prefix never split a registry.
 */
export function serviceKeyOf(prefix: string, imageName: string, containerId: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  return `${trimmed === '' ? '' : `/${trimmed}`}/${imageName}/${containerId}`;
}

/**
 * Compact JSON with the fields in the contract's order. Built by hand rather than trusting
 * the property order of whatever object the caller passes in.
 */
export function serviceValueOf(record: ServiceRecord): string {
  const ports = record.Ports.map(
    (p) =>
      `{"IP":${JSON.stringify(p.IP)},"PrivatePort":${p.PrivatePort},"PublicPort":${p.PublicPort},"Type":${JSON.stringify(p.Type)}}`,
  );
  return `{"IP":${JSON.stringify(record.IP)},"Name":${JSON.stringify(record.Name)},"Ports":[${ports.join(',')}]}`;
}

/** Bound to every address: the advertised host address stands in for these. */
const WILDCARD_HOST_IPS = new Set(['', '0.0.0.0', '::']);

interface SortablePort extends ServicePort {
  containerPort: number;
}

/**
 * The `Ports` entries: one per distinct host binding of a published port, one
 * `{"IP":"","PrivatePort":0,"PublicPort":<container port>}` per exposed but unpublished port.
 */
export function servicePortsOf(container: RecordContainer, hostIp: string): ServicePort[] {
  const published = container.NetworkSettings?.Ports ?? {};
  const specs = new Set([...Object.keys(container.Config?.ExposedPorts ?? {}), ...Object.keys(published)]);
  const entries = new Map<string, SortablePort>();

  for (const spec of specs) {
    const port = parsePortSpec(spec);
    if (port === undefined) continue;
    let bound = false;
    for (const binding of published[spec] ?? []) {
      const publicPort = parsePortNumber(binding.HostPort);
      if (publicPort === undefined) continue;
      const ip = WILDCARD_HOST_IPS.has(binding.HostIp ?? '') ? hostIp : (binding.HostIp ?? '');
      bound = true;
      // Docker binds 0.0.0.0 and :: separately for one -p; both become hostIp: one entry.
      const entry = { IP: ip, PrivatePort: port.number, PublicPort: publicPort, Type: port.type };
      entries.set(JSON.stringify(entry), { ...entry, containerPort: port.number });
    }
    if (!bound) {
      const entry = { IP: '', PrivatePort: 0, PublicPort: port.number, Type: port.type };
      entries.set(JSON.stringify(entry), { ...entry, containerPort: port.number });
    }
  }

  return [...entries.values()].sort(byContainerPort).map(({ IP, PrivatePort, PublicPort, Type }) => ({
    IP,
    PrivatePort,
    PublicPort,
    Type,
  }));
}

function byContainerPort(a: SortablePort, b: SortablePort): number {
  return (
    a.containerPort - b.containerPort ||
    compareText(a.Type, b.Type) ||
    compareText(a.IP, b.IP) ||
    a.PublicPort - b.PublicPort
  );
}

// Not localeCompare: the order must not depend on the host's locale.
const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** `9000/tcp` → {9000, tcp}; Docker writes the protocol, but a bare port means tcp. */
function parsePortSpec(spec: string): { number: number; type: string } | undefined {
  const [portText, type = 'tcp'] = spec.split('/', 2);
  const number = parsePortNumber(portText);
  return number === undefined || type === '' ? undefined : { number, type: type.toLowerCase() };
}

function parsePortNumber(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,5}$/.test(text)) return undefined;
  const number = Number(text);
  return number >= 1 && number <= 65535 ? number : undefined;
}
