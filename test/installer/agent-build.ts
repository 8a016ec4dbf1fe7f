// The built agent (`npm run build:agent`), shared by the installer tests: built once per test run (when
// dist/halo-link-linux-x64/ is missing or older than a source file), then reused by every test file.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '@halo/config';

const root = projectRoot();
export const AGENT_DIST = join(root, 'dist', 'halo-link-linux-x64');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'test') continue;
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** dist/halo-link-linux-x64/, built now if it is missing or stale. */
export function agentBuild(): string {
  const exe = join(AGENT_DIST, 'halo-link');
  const sources = Math.max(newestSource(join(root, 'libs')), newestSource(join(root, 'services', 'agent')), statSync(join(root, 'deploy', 'agent', 'build-agent.ts')).mtimeMs);
  if (!existsSync(exe) || statSync(exe).mtimeMs < sources) {
    execFileSync(process.execPath, [join(root, 'deploy', 'agent', 'build-agent.ts')], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return AGENT_DIST;
}
