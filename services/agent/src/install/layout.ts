import { posix, win32 } from 'node:path';

/** Where an installed Halo Link keeps everything, for one OS, under an optional prefix (`--root`, tests). */
export interface InstallLayout {
  os: 'linux' | 'win32';
  /** Holds `versions/<v>/` (executable, nats-server, SQLite module) and `current`, the version that runs. */
  programDir: string;
  versionsDir: string;
  current: string;
  /** The executable inside `current`. */
  executable: string;
  configDir: string;
  /** 0600: holds the enrolment token until it is used. */
  configFile: string;
  /** Link GUID, creds, leaf store, update state. */
  stateDir: string;
  /** Where logs go: the journal on Linux, a folder on Windows. */
  logs: string;
  /** systemd units (Linux). */
  unitDir: string;
  /** The system user, as a sysusers.d entry (Linux). */
  sysusersFile: string;
}

/** The service's (and its system user's) name. */
export const SERVICE_NAME = 'halo-link';

/**
 * The layout for `os` under `root` ('' for the real locations). Windows: Program Files for the program, ProgramData
 * for config, state and logs (`programFiles` / `programData` default to the standard folders).
 */
export function installLayout(os: 'linux' | 'win32', root = '', env: { programFiles?: string | undefined; programData?: string | undefined } = {}): InstallLayout {
  if (os === 'win32') {
    const p = win32;
    const under = (dir: string) => (root ? p.join(root, dir.replace(/^[A-Za-z]:/, '')) : dir);
    const programDir = under(p.join(env.programFiles ?? 'C:\\Program Files', 'Halo Link'));
    const dataDir = under(p.join(env.programData ?? 'C:\\ProgramData', 'Halo Link'));
    const current = p.join(programDir, 'current');
    return {
      os, programDir, versionsDir: p.join(programDir, 'versions'), current, executable: p.join(current, 'halo-link.exe'),
      configDir: dataDir, configFile: p.join(dataDir, 'config.json'), stateDir: p.join(dataDir, 'state'), logs: p.join(dataDir, 'logs'),
      unitDir: '', sysusersFile: '',
    };
  }
  const p = posix;
  const under = (dir: string) => (root ? p.join(root, dir) : dir);
  const programDir = under('/opt/halo-link');
  const current = p.join(programDir, 'current');
  return {
    os, programDir, versionsDir: p.join(programDir, 'versions'), current, executable: p.join(current, 'halo-link'),
    configDir: under('/etc/halo-link'), configFile: under('/etc/halo-link/config.json'), stateDir: under('/var/lib/halo-link'),
    logs: `journalctl -u ${SERVICE_NAME}`, unitDir: under('/etc/systemd/system'), sysusersFile: under('/usr/lib/sysusers.d/halo-link.conf'),
  };
}
