/**
 * The only file that reads ec2-deploy's own inputs: every action.yml input name appears here (the
 * connection inputs, and `env`, `env-file` and `vars`, shared with compose-up, are read by core's
 * `parseConnectionInputs` and `parseEnvInputs`). Every mistake is an `InputError` naming its input,
 * raised before any host is contacted.
 */
import {
  InputError,
  formatImageRef,
  parseBoolean,
  parseConnectionInputs,
  parseDuration,
  parseEnvInputs,
  parseImageRef,
  parseInteger,
  parseList,
  type ConnectionSettings,
  type ContainerSpec,
  type HealthCheck,
  type ImageRef,
  type InputReader,
  type ProxySpec,
  type RunContext,
} from '@slipway/core';

export type Mode = 'deploy' | 'rollback' | 'script';
export type { ContainerSpec, HealthCheck, ProxySpec };

export interface Ec2DeployInputs {
  mode: Mode;
  connection: ConnectionSettings;
  /** The image to deploy (deploy mode). */
  image?: ImageRef;
  /** `image` as given, normalised: what is pulled and recorded. */
  imageText?: string;
  /** Registry login for pulls (the registry is the pulled image's); undefined for a public image. */
  registryAuth?: { username: string; password: string };
  container: ContainerSpec;
  /** Proxy mode (`proxy-port` set): releases side by side behind a proxy; undefined: stop-and-start. */
  proxy?: ProxySpec;
  health: HealthCheck;
  healthTimeoutMs: number;
  keepReleases: number;
  lockTimeoutMs: number;
  /** Script mode: run this under bash on every host. */
  script?: string;
  /** `vars`: shown as they are in the log and the summary. */
  vars: Map<string, string>;
  /** Every secret value to mask (keys in all their forms, passphrase, registry password, `env` and `env-file` values). */
  secrets: string[];
}

const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const PORT = /^((\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?((\d{1,5}(-\d{1,5})?)?:)?\d{1,5}(-\d{1,5})?(\/(tcp|udp|sctp))?$/;
/** `proxy-port`: `[ip:]port`, the port the proxy listens on inside its container too. */
const PROXY_PORT = /^((\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?\d{1,5}$/;
const DOMAIN = /^(\*\.)?[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$/;
const RESTART = /^(no|always|unless-stopped|on-failure(:\d+)?)$/;
const NETWORK = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*(:[a-zA-Z0-9_.-]+)?$/;
/** `source:/target[:options]`, no white space. */
const VOLUME = /^([^:\s]+):\/[^:\s]*(:[a-z,]+)?$/;
/** Docker's rule for volume names; any other source that is not an absolute path docker refuses too. */
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/** `docker run` options the action sets itself: given in run-args they would conflict or undo it. */
const OWNED_RUN_ARGS = /^(--name|--rm|-d|--detach|--restart|--env-file)(=|$)/;

export function getInputs(read: InputReader, run: RunContext, workspace = process.cwd()): Ec2DeployInputs {
  const script = read('script');
  const rollback = parseBoolean('rollback', read('rollback'), false);
  const rawImage = read('image').trim();
  if (script.trim() && rawImage) throw new InputError('script', 'and `image` are both set: give `image` to deploy a container, or `script` to run a script, not both.');
  if (script.trim() && rollback) throw new InputError('rollback', 'is true while `script` is set: a script run has no release to roll back.');
  if (rollback && rawImage) {
    throw new InputError('rollback', 'is true while `image` is set: a rollback returns each host to its previous release. Clear `image` to roll back, or set `rollback: false` to deploy the image.');
  }
  const mode: Mode = script.trim() ? 'script' : rollback ? 'rollback' : 'deploy';
  if (mode === 'deploy' && !rawImage) {
    throw new InputError('image', "is empty: give the image to deploy (build-push's image-ref output), or `script`, or `rollback: true`.");
  }

  let image: ImageRef | undefined;
  let imageText: string | undefined;
  if (rawImage) {
    image = parseImageRef('image', rawImage);
    if (!image.tag && !image.digest) image = { ...image, tag: 'latest' };
    imageText = formatImageRef(image);
  }

  const password = read('registry-password');
  const username = read('registry-username').trim();
  if (password && !username) throw new InputError('registry-username', 'is empty while `registry-password` is set: give the registry user (for GHCR, github.actor).');

  const { values: env, inputOf, vars, secrets } = parseEnvInputs(read, workspace);
  if (mode === 'script') {
    // Script mode exports them in bash, which takes only shell names.
    for (const key of env.keys()) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new InputError(inputOf.get(key)!, `${key} is not a shell variable name (letters, digits, _), which script mode needs.`);
    }
  }

  const name = read('name').trim() || defaultName(run);
  if (!CONTAINER_NAME.test(name)) throw new InputError('name', `"${name}" is not a valid container name (letters, digits, _ . -, starting with a letter or digit).`);

  const ports = parseList(read('ports'));
  for (const port of ports) {
    if (!PORT.test(port)) throw new InputError('ports', `"${port}" is not a port mapping: write [ip:]host-port:container-port[/tcp|udp], e.g. 8080:80 or 127.0.0.1:8080:80.`);
  }
  const volumes = parseList(read('volumes'));
  for (const volume of volumes) checkVolume(volume);
  const network = read('network').trim() || undefined;
  if (network && !NETWORK.test(network)) throw new InputError('network', `"${network}" is not a network name.`);
  const restart = read('restart').trim() || 'unless-stopped';
  if (!RESTART.test(restart)) throw new InputError('restart', `"${restart}" is not a restart policy: no, always, unless-stopped or on-failure[:N].`);
  const runArgs = splitWords('run-args', read('run-args'));
  for (const arg of runArgs) {
    if (OWNED_RUN_ARGS.test(arg)) throw new InputError('run-args', `${arg} is set by the action itself (use \`name\`, \`restart\`, \`env\`, \`env-file\` instead).`);
  }

  const proxy = proxyInputs(read, ports, mode);

  const healthCmd = read('health-cmd').trim();
  const healthUrl = read('health-url').trim();
  if (healthCmd && healthUrl) throw new InputError('health-cmd', 'and `health-url` are both set: give one.');
  // In proxy mode only the path counts (the release is asked at its own address), so a path will do.
  if (healthUrl && !/^https?:\/\/[^\s/]+(\/\S*)?$/.test(healthUrl) && !(proxy && /^\/\S*$/.test(healthUrl))) {
    throw new InputError('health-url', `"${healthUrl}" is not an http(s) URL${proxy ? ' or a path' : ''}.`);
  }
  const health: HealthCheck = healthCmd ? { kind: 'cmd', command: healthCmd } : healthUrl ? { kind: 'url', url: healthUrl } : { kind: 'auto' };

  const connection = parseConnectionInputs(read);
  return {
    mode,
    connection,
    image,
    imageText,
    registryAuth: password ? { username, password } : undefined,
    container: { name, ports, env, volumes, network, restart, runArgs },
    proxy,
    health,
    healthTimeoutMs: parseDuration('health-timeout', read('health-timeout'), '60s'),
    keepReleases: parseInteger('keep-releases', read('keep-releases'), 5, { min: 1, max: 100 }),
    lockTimeoutMs: parseDuration('lock-timeout', read('lock-timeout'), '10m'),
    script: mode === 'script' ? script : undefined,
    vars,
    secrets: [...connection.secrets, password, ...secrets].filter((value) => value.length >= 4),
  };
}

/** The proxy-mode inputs, read when `proxy-port` is set; the others without it are refused, not ignored. */
function proxyInputs(read: InputReader, ports: readonly string[], mode: Mode): ProxySpec | undefined {
  const proxyPorts = parseList(read('proxy-port'));
  const names = ['app-port', 'domain', 'pre-deploy'] as const;
  if (!proxyPorts.length) {
    const stray = names.find((input) => read(input).trim());
    if (stray) throw new InputError(stray, 'is set while `proxy-port` is empty: it belongs to proxy mode. Give `proxy-port` (the host port the proxy listens on), or clear it.');
    return undefined;
  }
  if (ports.length) throw new InputError('ports', 'and `proxy-port` are both set: in proxy mode only the proxy publishes host ports, and the app publishes none. Clear `ports`.');
  if (mode === 'script') throw new InputError('proxy-port', 'is set while `script` is set: a script run deploys no container.');
  for (const port of proxyPorts) {
    const number = Number(port.slice(port.lastIndexOf(':') + 1));
    if (!PROXY_PORT.test(port) || number < 1 || number > 65535) {
      throw new InputError('proxy-port', `"${port}" is not a proxy port: write [ip:]port, one a line, e.g. 80, 443 or 127.0.0.1:18080.`);
    }
  }
  const appPortText = read('app-port').trim();
  const appPort = appPortText ? parseInteger('app-port', appPortText, 0, { min: 1, max: 65535 }) : undefined;
  const image = read('proxy-image').trim() || 'caddy:2';
  parseImageRef('proxy-image', image);
  const domain = read('domain').trim() || undefined;
  if (domain && !DOMAIN.test(domain)) throw new InputError('domain', `"${domain}" is not a domain name (e.g. app.example.com).`);
  const preDeployText = read('pre-deploy');
  const preDeploy = preDeployText.trim() ? splitWords('pre-deploy', preDeployText) : undefined;
  return { ports: proxyPorts, image, domain, appPort, drainTimeoutMs: parseDuration('drain-timeout', read('drain-timeout'), '30s'), preDeploy };
}

/**
 * A relative bind mount would resolve against the SSH user's home on the host (`./data` a root-owned
 * directory there, `../../etc` the host's /etc), and `..` in an absolute one climbs out of where it
 * seems to point: only volume names and absolute paths without `..` are taken.
 */
function checkVolume(volume: string): void {
  const source = VOLUME.exec(volume)?.[1];
  if (source === undefined) throw new InputError('volumes', `"${volume}" is not a volume: write name:/path or /host/path:/path, optionally :ro.`);
  if (source.startsWith('/')) {
    if (source.split('/').includes('..')) throw new InputError('volumes', `"${volume}": the host path ${source} has a ".." part; give the path without it.`);
  } else if (!VOLUME_NAME.test(source)) {
    throw new InputError('volumes', `"${volume}": ${source} is neither a volume name (letters, digits, _ . -) nor an absolute host path; write /srv/data:/path, not a relative path.`);
  }
}

/** The repository's name, as a container name: `owner/My App` gives `my-app`. */
function defaultName(run: RunContext): string {
  const name = run.repo
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '');
  if (!name) throw new InputError('name', 'is empty and the repository name is unknown: give the container name.');
  return name;
}

/**
 * Splits `run-args` into words as a POSIX shell would, with '…' and "…" quoting and \ escapes, but
 * without expanding anything: no shell ever sees the text.
 */
export function splitWords(input: string, raw: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && i + 1 < raw.length && '"\\$`'.includes(raw[i + 1])) word += raw[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < raw.length) {
      const next = raw[++i];
      if (next !== '\n') word += next;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new InputError(input, `has an unclosed ${quote} quote.`);
  if (inWord) words.push(word);
  return words;
}
