// Provides nats-server >= MIN_NATS_SERVER_VERSION in the project-local tools folder (.tools/nats-server).
// Debian 12 ships 2.9, too old (ARCHITECTURE §8); Debian testing's package runs on Debian 12, so it is fetched by
// name through apt from the machine's own configured Debian mirror and unpacked, without installing it system-wide.
//   node deploy/install/nats-server.ts          install when no suitable binary is found
//   node deploy/install/nats-server.ts --check  exit 1 with instructions when none is found (no install)
//   node deploy/install/nats-server.ts --force  install even when one is found
import { execFileSync } from 'node:child_process';
import { copyFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { MIN_NATS_SERVER_VERSION, NatsServerNotFoundError, binaryVersion, natsServerCandidates, projectToolsBinary, versionAtLeast } from '@halo/nats-server';

interface Mirror {
  uri: string;
  signedBy: string;
}

/** The first Debian archive URI in the machine's apt sources (one-line and deb822 formats), not security. */
function debianMirror(): Mirror | null {
  const files: string[] = [];
  if (existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
  if (existsSync('/etc/apt/sources.list.d')) {
    for (const f of readdirSync('/etc/apt/sources.list.d')) if (/\.(list|sources)$/.test(f)) files.push(join('/etc/apt/sources.list.d', f));
  }
  const defaultKey = '/usr/share/keyrings/debian-archive-keyring.gpg';
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(stanza)?.[1]?.trim();
        if (field('Enabled') === 'no' || !(field('Types') ?? '').split(/\s+/).includes('deb')) continue;
        const suites = (field('Suites') ?? '').split(/\s+/);
        const uri = (field('URIs') ?? '').split(/\s+/).find((u) => /\/debian\/?$/.test(u));
        if (uri && suites.some((s) => s && !s.includes('security'))) return { uri, signedBy: field('Signed-By') ?? defaultKey };
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)/.exec(line.trim());
        if (!m || !/\/debian\/?$/.test(m[2]!) || m[3]!.includes('security')) continue;
        const signedBy = /signed-by=(\S+)/.exec(m[1] ?? '')?.[1] ?? defaultKey;
        return { uri: m[2]!, signedBy };
      }
    }
  }
  return null;
}

function install(): string {
  const mirror = debianMirror();
  if (!mirror) throw new Error('no Debian mirror in /etc/apt sources (this installer needs Debian or a derivative with apt)');
  if (!existsSync(mirror.signedBy)) throw new Error(`the archive keyring ${mirror.signedBy} is missing`);
  const work = mkdtempSync(join(tmpdir(), 'halo-nats-install-'));
  try {
    mkdirSync(join(work, 'lists', 'partial'), { recursive: true });
    mkdirSync(join(work, 'cache', 'archives', 'partial'), { recursive: true });
    writeFileSync(join(work, 'sources.list'), `deb [signed-by=${mirror.signedBy}] ${mirror.uri} testing main\n`);
    const apt = [
      '-o', `Dir::Etc::sourcelist=${join(work, 'sources.list')}`,
      '-o', 'Dir::Etc::sourceparts=/dev/null',
      '-o', `Dir::State::lists=${join(work, 'lists')}`,
      '-o', `Dir::Cache=${join(work, 'cache')}`,
      '-o', 'APT::Sandbox::User=root',
      '-o', 'Debug::NoLocking=1',
    ];
    console.log(`nats-server: fetching the package index of Debian testing from ${mirror.uri}`);
    execFileSync('apt-get', [...apt, '-qq', 'update'], { stdio: 'inherit', cwd: work });
    execFileSync('apt-get', [...apt, '-qq', 'download', 'nats-server'], { stdio: 'inherit', cwd: work });
    const deb = readdirSync(work).find((f) => f.startsWith('nats-server_') && f.endsWith('.deb'));
    if (!deb) throw new Error('apt-get download produced no nats-server package');
    execFileSync('dpkg-deb', ['-x', join(work, deb), join(work, 'root')], { stdio: 'inherit' });
    const unpacked = ['usr/sbin/nats-server', 'usr/bin/nats-server'].map((p) => join(work, 'root', p)).find((p) => existsSync(p));
    if (!unpacked) throw new Error(`${deb} holds no nats-server binary`);
    const target = projectToolsBinary();
    if (!target) throw new Error('run this from a checkout of the project: it installs into its .tools folder');
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(unpacked, `${target}.tmp`);
    chmodSync(`${target}.tmp`, 0o755);
    renameSync(`${target}.tmp`, target);
    const version = binaryVersion(target);
    if (!version || !versionAtLeast(version)) throw new Error(`installed ${deb}, but it reports version ${version ?? 'none'}`);
    console.log(`nats-server: installed ${version} at ${target}`);
    return target;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const args = new Set(process.argv.slice(2));
const found = natsServerCandidates().find((c) => c.accepted);
if (found && !args.has('--force')) {
  if (!args.has('--quiet')) console.log(`nats-server: using ${found.path} (${found.version})`);
  process.exit(0);
}
if (args.has('--check')) {
  console.error(new NatsServerNotFoundError(natsServerCandidates()).message);
  process.exit(1);
}
try {
  install();
} catch (err) {
  console.error(`nats-server: could not install nats-server >= ${MIN_NATS_SERVER_VERSION}: ${err instanceof Error ? err.message : String(err)}`);
  console.error(new NatsServerNotFoundError(natsServerCandidates()).message);
  process.exit(1);
}
