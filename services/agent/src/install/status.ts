import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { CREDS_FILE } from '../enrolment.ts';
import { currentVersion } from './install.ts';
import { SERVICE_NAME, type InstallLayout } from './layout.ts';

const InstalledConfig = z.object({
  env: z.string().optional(),
  enrolment: z.object({ url: z.string() }).partial().optional(),
  update: z.object({ manifestUrl: z.string() }).partial().optional(),
  databases: z.array(z.object({ name: z.string().optional(), engine: z.string().optional(), profile: z.string().optional() })).optional(),
});

/** What support asks on a call: versions, link, databases (names and engines only), service and update state; no secrets, no data. */
export function installStatus(layout: InstallLayout): Record<string, unknown> {
  const read = (path: string): unknown => {
    try {
      return JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      return undefined;
    }
  };
  const config = InstalledConfig.safeParse(read(layout.configFile));
  const state = read(join(layout.stateDir, 'state.json')) as { linkGuid?: string } | undefined;
  const versions = existsSync(layout.versionsDir) ? readdirSync(layout.versionsDir).filter((v) => !v.endsWith('.tmp')) : [];
  return {
    installed: existsSync(layout.configFile),
    version: currentVersion(layout),
    versions,
    config: layout.configFile,
    stateDir: layout.stateDir,
    logs: layout.logs,
    env: config.success ? config.data.env ?? 'production' : null,
    enrolUrl: config.success ? config.data.enrolment?.url ?? null : null,
    updateUrl: config.success ? config.data.update?.manifestUrl ?? null : null,
    databases: config.success ? (config.data.databases ?? []).map((d) => `${d.name} (${d.engine}, ${d.profile})`) : [],
    linkGuid: state?.linkGuid ?? null,
    enrolled: existsSync(join(layout.stateDir, CREDS_FILE)),
    service: serviceState(layout),
    update: read(join(layout.stateDir, 'update-status.json')) ?? null,
  };
}

function serviceState(layout: InstallLayout): string {
  if (layout.os !== 'linux' || !existsSync('/run/systemd/system')) return 'unknown (systemd is not running here)';
  try {
    return execFileSync('systemctl', ['is-active', `${SERVICE_NAME}.service`], { encoding: 'utf8' }).trim();
  } catch (err) {
    return (err as { stdout?: string }).stdout?.trim() || 'inactive';
  }
}
