import { execFileSync } from 'node:child_process';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Environment } from '@halo/contracts';
import { loadAgentConfig } from '../config.ts';
import { CREDS_FILE } from '../enrolment.ts';
import { runUpdate } from '../update/updater.ts';
import { runAgent } from '../run-agent.ts';
import { runDoctor } from './doctor.ts';
import { install, InstallError, parseDatabaseFlag, readDatabasesFile, removeInstall } from './install.ts';
import { installLayout, SERVICE_NAME } from './layout.ts';
import { installStatus } from './status.ts';

const USAGE = `usage:
  halo-link install --enrol-url URL --token TOKEN (--databases FILE | --database key=value,... ...)
                    [--ca-file FILE] [--env production|staging] [--update-url URL] [--root DIR]
  halo-link uninstall [--purge] [--root DIR]
  (Windows: the MSI runs install --msi / uninstall --msi; it places the program and the service itself)
  halo-link status [--json] [--root DIR]
  halo-link doctor [--json] [--root DIR]
  halo-link update               (the update timer's job: one signed-update check)
  halo-link run [--config FILE]
  halo-link --version`;

const os = () => (process.platform === 'win32' ? 'win32' : 'linux');
const layoutFor = (root: string | undefined) => installLayout(os(), root ?? '', { programFiles: process.env.ProgramFiles, programData: process.env.ProgramData });

/** Runs one command of the executable; resolves to its exit code (0 ok, 1 failed, 2 bad usage). */
export async function runCli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'install': return installCommand(rest);
      case 'uninstall': return await uninstallCommand(rest);
      case 'status': {
        const { values } = parseArgs({ args: rest, options: { root: { type: 'string' }, json: { type: 'boolean' } } });
        const status = installStatus(layoutFor(values.root));
        console.log(values.json ? JSON.stringify(status, null, 2) : Object.entries(status).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('\n'));
        return 0;
      }
      case 'doctor': {
        const { values } = parseArgs({ args: rest, options: { root: { type: 'string' }, json: { type: 'boolean' } } });
        const checks = await runDoctor(layoutFor(values.root));
        if (values.json) console.log(JSON.stringify(checks, null, 2));
        else for (const c of checks) console.log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.check}: ${c.detail}`);
        return checks.every((c) => c.ok) ? 0 : 1;
      }
      case 'update': return await updateCommand(rest);
      case 'run':
      case undefined: {
        const { values } = parseArgs({ args: rest, options: { config: { type: 'string' } } });
        const configFile = values.config ?? process.env.HALO_AGENT_CONFIG ?? layoutFor(undefined).configFile;
        const level = process.env.HALO_LOG_LEVEL;
        await runAgent({ configFile, logLevel: level === 'debug' || level === 'trace' || level === 'warn' || level === 'error' ? level : 'info' });
        return 0;
      }
      default:
        console.error(`halo-link: unknown command ${command}\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof InstallError) {
      console.error(`halo-link ${command}: ${err.message}`);
      return err.exitCode;
    }
    if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      console.error(`halo-link ${command}: ${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}

/**
 * `--name value` as `--name=value` for options that take a value: an enrolment token is base64url and may start
 * with `-`, which parseArgs would otherwise take for an option.
 */
function withValuesJoined(args: string[], valued: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    if (valued.includes(arg) && next !== undefined) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

function installCommand(args: string[]): number {
  const { values } = parseArgs({
    args: withValuesJoined(args, ['--token', '--enrol-url', '--ca-file', '--env', '--databases', '--database', '--update-url', '--root']),
    options: {
      'enrol-url': { type: 'string' }, token: { type: 'string' }, 'ca-file': { type: 'string' }, env: { type: 'string', default: 'production' },
      databases: { type: 'string' }, database: { type: 'string', multiple: true }, 'update-url': { type: 'string' }, root: { type: 'string' },
      msi: { type: 'boolean', default: false },
    },
  });
  const missing = (['enrol-url', 'token'] as const).filter((k) => values[k] === undefined);
  if (missing.length > 0) throw new InstallError(`missing ${missing.map((k) => `--${k}`).join(', ')}\n${USAGE}`, { exitCode: 2 });
  const env = Environment.safeParse(values.env);
  if (!env.success) throw new InstallError(`--env ${values.env}: must be ${Environment.options.join(' or ')}`, { exitCode: 2 });
  const databases = [...(values.databases ? readDatabasesFile(values.databases) : []), ...(values.database ?? []).map(parseDatabaseFlag)];
  if (databases.length === 0) throw new InstallError('give the databases: --databases FILE or --database key=value,...', { exitCode: 2 });
  const result = install({
    enrolUrl: values['enrol-url']!, token: values.token!, caFile: values['ca-file'], env: env.data, databases,
    updateUrl: values['update-url'], root: values.root, msi: values.msi,
  });
  console.log(`installed Halo Link ${result.version} in ${result.layout.programDir}`);
  console.log(`config: ${result.layout.configFile} (0600)  state: ${result.layout.stateDir}  logs: ${result.layout.logs}`);
  if (values.msi) console.log('config written; the MSI starts the service');
  else if (result.started) console.log('service halo-link enabled and started');
  else console.log(`the service runs:\n${result.commandLine}`);
  return 0;
}

async function uninstallCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { purge: { type: 'boolean', default: false }, root: { type: 'string' }, msi: { type: 'boolean', default: false } } });
  const layout = layoutFor(values.root);
  // The registry marks this link's sites uninstalled first; an unreachable hub does not block removing the files.
  if (!existsSync(join(layout.stateDir, CREDS_FILE))) {
    console.log('this link never enrolled: nothing to unregister');
  } else try {
    await runAgent({ configFile: layout.configFile, logLevel: 'warn', uninstall: true });
    console.log('unregistered: the registry shows this link\'s sites as uninstalled');
  } catch (err) {
    console.error(`could not unregister (${err instanceof Error ? err.message : String(err)}); removing the installation anyway`);
  }
  const removed = removeInstall(layout, { purge: values.purge, root: values.root !== undefined, msi: values.msi });
  console.log(removed.length > 0 ? `removed:\n  ${removed.join('\n  ')}` : 'nothing was installed');
  return 0;
}

async function updateCommand(args: string[]): Promise<number> {
  parseArgs({ args, options: {} });
  const layout = layoutFor(undefined);
  const config = loadAgentConfig(layout.configFile);
  if (!config.update) {
    console.log('no update URL in the config (install --update-url): automatic updates are off');
    return 0;
  }
  const rootKey = builtInRootKey();
  if (!rootKey) throw new InstallError('this build carries no update root key (build:agent --update-root-key): it cannot verify releases');
  if (!existsSync('/run/systemd/system')) throw new InstallError('systemd is not running: the updater restarts the halo-link service through it');
  const systemctl = (...a: string[]) => execFileSync('systemctl', a, { stdio: 'ignore' });
  const status = await runUpdate({
    layout, manifestUrl: config.update.manifestUrl, caFile: config.update.caFile, rootKey,
    platform: `${process.platform}-${process.arch}`, healthTimeoutMs: config.update.healthTimeoutSeconds * 1000,
    restart: async () => {
      systemctl('restart', `${SERVICE_NAME}.service`);
    },
    isRunning: () => {
      try {
        systemctl('is-active', '--quiet', `${SERVICE_NAME}.service`);
        return true;
      } catch {
        return false;
      }
    },
  });
  console.log(JSON.stringify(status));
  return status.state === 'refused' || status.state === 'failed' ? 1 : 0;
}

/** The release root public key (PEM) the build embedded, if any. */
function builtInRootKey(): KeyObject | null {
  const pem = (globalThis as { HALO_LINK_UPDATE_ROOT_KEY?: unknown }).HALO_LINK_UPDATE_ROOT_KEY;
  return typeof pem === 'string' ? createPublicKey(pem) : null;
}
