/**
 * A host on the runner for tests of programs that run on hosts (container/program.ts, stop-and-start
 * and proxy mode): a temporary HOME, and a fake `docker` first on PATH, a POSIX sh script that keeps
 * its images, containers and networks in files. It answers the subcommands and `--format` strings
 * those programs use, the way the engine answers them (exit codes, "No such container"), and logs
 * each argv, so a test can check where the host ends up and that no secret reached a command line.
 * Only docker is faked: sh, the lock's functions, mktemp, sed and the rest run for real.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deploymentDir } from '../host/layout.js';
import { LocalShell } from '../local-shell.js';
import type { Command, CommandResult, Shell } from '../shell.js';

/** The fake engine, and the fake docker-compose beside it, with `__STATE__` standing for their state directory. */
const FAKE_DOCKER = readFileSync(fileURLToPath(new URL('./fake-docker.sh', import.meta.url)), 'utf8');
const FAKE_COMPOSE = readFileSync(fileURLToPath(new URL('./fake-compose.sh', import.meta.url)), 'utf8');

export interface FakeContainer {
  image: string;
  status: string;
  /** The `slipway.image` label, `-` when there is none. */
  label: string;
  /** Every label, as `key=value`. */
  labels: string[];
  config: string;
  /** The content of the env file `docker run` was given, if any. */
  env?: string;
  envFile: string;
}

/** `reg/app:1` → the file name the fake registry keeps it under. */
function encode(ref: string): string {
  return ref.replace(/[/:@]/g, '_');
}

export class FakeDockerHost {
  readonly root: string;
  readonly home: string;
  readonly state: string;
  readonly bin: string;
  /** Runs commands with this host's HOME and PATH; `sh -s` programs in a session of their own (see below). */
  readonly shell: Shell;

  constructor() {
    this.root = mkdtempSync(join(tmpdir(), 'slipway-fake-host-'));
    this.home = join(this.root, 'home');
    this.state = join(this.root, 'docker');
    this.bin = join(this.root, 'bin');
    for (const dir of ['registry', 'images', 'containers', 'logs', 'exposed', 'exits'].map((name) => join(this.state, name)).concat(this.home, this.bin)) {
      mkdirSync(dir, { recursive: true });
    }
    writeFileSync(join(this.state, 'argv.log'), '');
    writeFileSync(join(this.bin, 'docker'), FAKE_DOCKER.replace('__STATE__', `'${this.state}'`), { mode: 0o755 });
    writeFileSync(join(this.bin, 'docker-compose'), FAKE_COMPOSE.replace('__STATE__', `'${this.state}'`), { mode: 0o755 });
    writeFileSync(join(this.state, 'compose-services'), 'app\n');
    this.shell = new SessionShell(this.env);
  }

  /** The environment a command on this host runs with. */
  get env(): Record<string, string> {
    return { HOME: this.home, PATH: `${this.bin}:${process.env.PATH ?? '/usr/bin:/bin'}` };
  }

  /** A deployment's directory on this host. */
  dir(name: string): string {
    return join(this.home, deploymentDir(name));
  }

  /** The services fake-compose's `up` starts. */
  composeServices(names: readonly string[]): void {
    writeFileSync(join(this.state, 'compose-services'), names.map((name) => `${name}\n`).join(''));
  }

  /** How fake-compose's `up` leaves a container of `image`: `running unhealthy 0`, `exited none 3`. */
  composeOutcome(image: string, outcome: string): void {
    mkdirSync(join(this.state, 'compose-health'), { recursive: true });
    writeFileSync(join(this.state, 'compose-health', encode(image)), `${outcome}\n`);
  }

  /** Each fake-compose command line so far. */
  composeArgv(): string[] {
    const file = join(this.state, 'compose-argv.log');
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
  }

  /** An image the registry serves as `ref` and as its digest reference `repository@digest`. */
  publish(ref: string, id: string, digestRef: string): void {
    writeFileSync(join(this.state, 'registry', encode(ref)), `${id} ${digestRef}\n`);
    writeFileSync(join(this.state, 'registry', encode(digestRef)), `${id} ${digestRef}\n`);
  }

  /** Registry logins fail unless the password is this one. */
  requirePassword(password: string): void {
    writeFileSync(join(this.state, 'registry-password'), password);
  }

  /** Each pull takes this long first. */
  slowPulls(seconds: number): void {
    writeFileSync(join(this.state, 'pull-sleep'), String(seconds));
  }

  /** Whether a slow pull has started. */
  pulling(): boolean {
    return existsSync(join(this.state, 'pulling'));
  }

  /** What containers of image `id` print to `docker logs`. */
  logsOf(id: string, text: string): void {
    writeFileSync(join(this.state, 'logs', id.replace(/^sha256:/, '')), text);
  }

  /** The ports images of `id` EXPOSE (`8080/tcp`); none unless told. */
  exposes(id: string, ports: string[]): void {
    writeFileSync(join(this.state, 'exposed', id.replace(/^sha256:/, '')), ports.map((port) => `${port}\n`).join(''));
  }

  /** Containers of image `id` exit with `code` as soon as they start. */
  exitsAtOnce(id: string, code: number): void {
    writeFileSync(join(this.state, 'exits', id.replace(/^sha256:/, '')), `${code}\n`);
  }

  /** One-off containers (`docker run --rm`) exit with `code`; each prints its command and its env file's lines. */
  oneOffsExit(code: number): void {
    writeFileSync(join(this.state, 'one-off-exit'), String(code));
  }

  /** The Caddyfile each `caddy reload` read, in order. */
  reloads(): string[] {
    const file = join(this.state, 'reloads');
    return existsSync(file) ? readFileSync(file, 'utf8').split('----\n').slice(0, -1) : [];
  }

  /** Puts an image on the host as if it had been pulled. */
  addImage(id: string, refs: string[], digests: string[] = []): void {
    const dir = join(this.state, 'images', id.replace(/^sha256:/, ''));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'refs'), refs.map((r) => `${r}\n`).join(''));
    writeFileSync(join(dir, 'digests'), digests.map((r) => `${r}\n`).join(''));
  }

  hasImage(id: string): boolean {
    return existsSync(join(this.state, 'images', id.replace(/^sha256:/, '')));
  }

  /** Puts a container on the host as if it had been run. */
  addContainer(name: string, container: { image: string; status?: string; label?: string; config?: string }): void {
    const dir = join(this.state, 'containers', name);
    mkdirSync(dir, { recursive: true });
    const files: Record<string, string> = {
      image: container.image,
      status: container.status ?? 'running',
      labels: container.label ? `slipway.image=${container.label}` : '',
      volumes: '',
      config: container.config ?? container.image,
      restarts: '0',
      exitcode: '0',
      envfile: '',
      logs: `started ${name}`,
    };
    for (const [file, value] of Object.entries(files)) writeFileSync(join(dir, file), `${value}\n`);
  }

  /** The containers now, by name. */
  containers(): Record<string, FakeContainer> {
    const all: Record<string, FakeContainer> = {};
    for (const name of readdirSync(join(this.state, 'containers'))) {
      const read = (file: string): string => readFileSync(join(this.state, 'containers', name, file), 'utf8').replace(/\n$/, '');
      const envPath = join(this.state, 'containers', name, 'env');
      const labels = read('labels').split('\n').filter(Boolean);
      all[name] = {
        image: read('image'),
        status: read('status'),
        label: labels.find((label) => label.startsWith('slipway.image='))?.slice('slipway.image='.length) ?? '-',
        labels,
        config: read('config'),
        envFile: read('envfile'),
        env: existsSync(envPath) ? readFileSync(envPath, 'utf8') : undefined,
      };
    }
    return all;
  }

  /** Every docker command line, in order, one a line as `"$*"` writes them. */
  argv(): string {
    return readFileSync(join(this.state, 'argv.log'), 'utf8');
  }

  /** What the last `docker login` read on its stdin, and the config dirs logins used. */
  logins(): { password?: string; configDirs: string[] } {
    const password = join(this.state, 'login-password');
    const configs = join(this.state, 'login-configs');
    return {
      password: existsSync(password) ? readFileSync(password, 'utf8') : undefined,
      configDirs: existsSync(configs) ? readFileSync(configs, 'utf8').split('\n').filter(Boolean) : [],
    };
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

/**
 * LocalShell with a host's environment. A program that watches its stdin (container/program.ts)
 * ends by signalling its whole process group (`kill -TERM 0`); on the runner that group would be
 * jest's, so `sh -s` runs under `setsid`, as sshd gives each session a group of its own.
 */
class SessionShell implements Shell {
  readonly target = 'fake-host';
  private readonly local = new LocalShell();

  constructor(private readonly env: Record<string, string>) {}

  run(command: Command): Promise<CommandResult> {
    const args = command.args[0] === 'sh' && command.args[1] === '-s' ? ['setsid', '-w', ...command.args] : command.args;
    return this.local.run({ ...command, args, env: { ...this.env, ...command.env } });
  }

  writeFile(path: string, content: string | Buffer, mode: number): Promise<void> {
    return this.local.writeFile(path, content, mode);
  }

  async close(): Promise<void> {}
}
