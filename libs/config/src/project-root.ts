import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The checkout this code runs from: the nearest folder up whose package.json declares workspaces; null when
 * there is none (an installed agent runs outside any checkout). For the demo's and dev tools' defaults only.
 */
export function findProjectRoot(from = dirname(fileURLToPath(import.meta.url))): string | null {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && 'workspaces' in (JSON.parse(readFileSync(pkg, 'utf8')) as object)) return dir;
    if (dirname(dir) === dir) return null;
  }
}

/** findProjectRoot(), for code that only runs inside a checkout (the demo, tests, install scripts). */
export function projectRoot(): string {
  const root = findProjectRoot();
  if (root === null) throw new Error('cannot find the project root (package.json with workspaces)');
  return root;
}
