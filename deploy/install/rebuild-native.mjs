// npm's global config may point node-gyp at the machine's older Node headers (nodedir); native addons then
// fail to load on the project's pinned Node 24. Rebuild them against the headers the `node` package ships.
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const root = dirname(dirname(dirname(new URL(import.meta.url).pathname)));
const require = createRequire(join(root, 'package.json'));

function loads() {
  try {
    execFileSync(process.execPath, ['-e', "new (require('better-sqlite3'))(':memory:').close()"], { cwd: root, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

if (!existsSync(join(root, 'node_modules', 'better-sqlite3'))) process.exit(0);
if (loads()) process.exit(0);
const platformPkg = `node-${process.platform}-${process.arch}`;
const candidates = [
  join(root, 'node_modules', 'node', 'node_modules', platformPkg),
  join(root, 'node_modules', platformPkg),
];
const nodedir = candidates.find((dir) => existsSync(join(dir, 'include', 'node', 'node_api.h')));
if (!nodedir) {
  console.error(`rebuild-native: no Node headers found in ${candidates.join(' or ')}; better-sqlite3 may not load`);
  process.exit(1);
}
console.log(`rebuild-native: rebuilding better-sqlite3 for Node ${process.version} against ${nodedir}`);
const npm = process.env.npm_execpath;
const args = ['rebuild', 'better-sqlite3', `--nodedir=${nodedir}`];
if (npm && npm.endsWith('.js')) execFileSync(process.execPath, [npm, ...args], { cwd: root, stdio: 'inherit' });
else execFileSync('npm', args, { cwd: root, stdio: 'inherit' });
if (!loads()) {
  console.error('rebuild-native: better-sqlite3 still does not load after the rebuild');
  process.exit(1);
}
void require;
