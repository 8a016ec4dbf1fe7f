import { readFileSync } from 'node:fs';

/**
 * This agent's version: the build's (package version + commit, set by `npm run build:agent` in the bundle's
 * banner), or, run from source, the package version marked `-source`.
 */
export function agentVersion(): string {
  const built = (globalThis as { HALO_LINK_VERSION?: unknown }).HALO_LINK_VERSION;
  if (typeof built === 'string') return built;
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return `${pkg.version}-source`;
}
