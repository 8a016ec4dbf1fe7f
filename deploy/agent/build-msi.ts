/**
 * `npm run build:msi`: dist/halo-link-x64.msi for Windows, built here with wixl (Debian msitools):
 *
 *   node deploy/agent/build-msi.ts [--without-nats-server] [--sign-cert CERT.pem --sign-key KEY.pem]
 *
 * It holds the Windows executable (build-agent --os win: Node's win-x64 build of this Node version with the
 * agent injected), nats-server.exe, better-sqlite3's win32 addon and WinSW (npm node-windows) as the service host:
 * Node cannot answer the Windows service control manager itself. The service runs `halo-link.exe run`; ENROLURL,
 * ENROLTOKEN, ENV and DATABASESFILE feed `halo-link.exe install --msi` at install; PURGE=1 on uninstall removes
 * config and state. A major upgrade replaces any earlier version in place.
 *
 * The Windows nats-server is a build input (HALO_NATS_SERVER_WINDOWS, or .tools/nats-server/nats-server.exe):
 * without it the MSI is skipped with a message. `--without-nats-server` (tests) builds
 * dist/halo-link-x64-incomplete.msi without it, to check the MSI's tables; it cannot run a link.
 * With a certificate and key (HALO_SIGN_CERT / HALO_SIGN_KEY), the exe and the MSI are Authenticode-signed with
 * osslsigncode and verified; the real key stays out of the repository.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { projectRoot } from '@halo/config';

const root = projectRoot();
const { values } = parseArgs({
  options: { 'without-nats-server': { type: 'boolean', default: false }, 'sign-cert': { type: 'string' }, 'sign-key': { type: 'string' } },
});
const incomplete = values['without-nats-server'];
const signCert = values['sign-cert'] ?? process.env.HALO_SIGN_CERT;
const signKey = values['sign-key'] ?? process.env.HALO_SIGN_KEY;
/** Never changes: it ties every version together for major upgrades. */
export const UPGRADE_CODE = '6B0B3E5C-5E3A-4C1B-9A55-0F2D5C1A7E11';
const WINSW = 'node-windows@1.0.0-beta.8';

const dist = join(root, 'dist', 'halo-link-win-x64');
const work = join(root, 'dist', 'build', 'msi');
const output = join(root, 'dist', incomplete ? 'halo-link-x64-incomplete.msi' : 'halo-link-x64.msi');

const agentArgs = [join(root, 'deploy', 'agent', 'build-agent.ts'), '--os', 'win', ...(incomplete ? ['--without-nats-server'] : [])];
const built = execFileSync(process.execPath, agentArgs, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
if (built.includes('skipping')) {
  console.log(`build-msi: skipping the MSI: ${built.trim().replace(/^build-agent: skipping the win build: /, '')}`);
  process.exit(0);
}

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const winsw = serviceHost();
const exe = join(work, 'halo-link.exe');
copyFileSync(join(dist, 'halo-link.exe'), exe);
if (signCert && signKey) sign(exe);
const version = readFileSync(join(dist, 'VERSION'), 'utf8').trim();
// MSI versions are numbers only (major.minor.build); the commit stays in the executable's own --version.
const msiVersion = version.split(/[-+]/)[0]!;

const files = [
  { id: 'HaloLinkExe', name: 'halo-link.exe', source: exe },
  { id: 'SqliteAddon', name: 'better_sqlite3.node', source: join(dist, 'better_sqlite3.node') },
  ...(incomplete ? [] : [{ id: 'NatsServerExe', name: 'nats-server.exe', source: join(dist, 'nats-server.exe') }]),
  { id: 'VersionFile', name: 'VERSION', source: join(dist, 'VERSION') },
  { id: 'ServiceHostConfig', name: 'halo-link-service.exe.config', source: winsw.config },
  { id: 'ServiceXml', name: 'halo-link-service.xml', source: writeServiceXml() },
];
// wixl takes Source paths relative to the .wxs only: every file is gathered beside it.
for (const f of files) if (f.source !== join(work, f.name)) copyFileSync(f.source, join(work, f.name));
const wxs = join(work, 'halo-link.wxs');
writeFileSync(wxs, wixSource(msiVersion, files));
execFileSync('wixl', ['-a', 'x64', '-o', output, 'halo-link.wxs'], { cwd: work, stdio: ['ignore', 'inherit', 'pipe'] });
if (signCert && signKey) sign(output);
console.log(`build-msi: ${relative(root, output)} (Halo Link ${version}, MSI ${msiVersion}${incomplete ? ', WITHOUT nats-server: for table checks only' : ''}${signCert && signKey ? ', signed and verified' : ', unsigned'})`);

/** WinSW from npm's node-windows (pinned), renamed for the service it hosts. */
function serviceHost(): { exe: string; config: string } {
  const cache = join(root, 'dist', 'build', 'win-inputs', 'node-windows');
  const bin = join(cache, 'package', 'bin', 'winsw');
  if (!existsSync(join(bin, 'winsw.exe'))) {
    mkdirSync(cache, { recursive: true });
    const tgz = execFileSync('npm', ['pack', WINSW, '--pack-destination', cache], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n').at(-1)!;
    execFileSync('tar', ['xzf', join(cache, tgz), '-C', cache]);
  }
  const exe = join(work, 'halo-link-service.exe');
  const config = join(work, 'halo-link-service.exe.config');
  copyFileSync(join(bin, 'winsw.exe'), exe);
  copyFileSync(join(bin, 'winsw.exe.config'), config);
  return { exe, config };
}

/** WinSW's description of the service: the agent, restarted on failure, logs rolled in ProgramData. */
function writeServiceXml(): string {
  const path = join(work, 'halo-link-service.xml');
  writeFileSync(path, `<service>
  <id>halo-link</id>
  <name>Halo Link</name>
  <description>Answers Halo Cloud queries from this practice's PMS databases.</description>
  <executable>%BASE%\\halo-link.exe</executable>
  <arguments>run --config "%ProgramData%\\Halo Link\\config.json"</arguments>
  <logpath>%ProgramData%\\Halo Link\\logs</logpath>
  <log mode="roll-by-size"><sizeThreshold>10240</sizeThreshold><keepFiles>8</keepFiles></log>
  <onfailure action="restart" delay="5 sec"/>
  <resetfailure>1 hour</resetfailure>
  <stoptimeout>45 sec</stoptimeout>
</service>
`);
  return path;
}

function sign(path: string): void {
  const signed = `${path}.signed`;
  execFileSync('osslsigncode', ['sign', '-certs', signCert!, '-key', signKey!, '-n', 'Halo Link', '-h', 'sha256', '-in', path, '-out', signed], { stdio: 'pipe' });
  execFileSync('mv', [signed, path]);
  execFileSync('osslsigncode', ['verify', '-CAfile', signCert!, '-in', path], { stdio: 'pipe' });
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

function wixSource(msiVersion: string, payload: Array<{ id: string; name: string }>): string {
  const install = 'install --msi --enrol-url "[ENROLURL]" --token "[ENROLTOKEN]" --env "[ENV]" --databases "[DATABASESFILE]"';
  return `<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="Halo Link" Language="1033" Version="${msiVersion}" Manufacturer="Halo" UpgradeCode="${UPGRADE_CODE}">
    <Package InstallerVersion="500" Compressed="yes" InstallScope="perMachine" Description="Halo Link ${xml(msiVersion)}"/>
    <MajorUpgrade DowngradeErrorMessage="A newer Halo Link is already installed."/>
    <Media Id="1" Cabinet="halolink.cab" EmbedCab="yes"/>
    <Property Id="ENROLURL"/>
    <Property Id="ENROLTOKEN"/>
    <Property Id="ENV" Value="production"/>
    <Property Id="DATABASESFILE"/>
    <Property Id="PURGE" Value="0"/>
    <!-- The token is a secret until used: kept out of the installer's log. -->
    <Property Id="MsiHiddenProperties" Value="ENROLTOKEN"/>
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFiles64Folder">
        <Directory Id="INSTALLDIR" Name="Halo Link">
          <Component Id="Service" Guid="8E1F2A60-3C7B-4B7E-9E0A-2B6D8F1C4A21" Win64="yes">
            <File Id="ServiceHostExe" Name="halo-link-service.exe" Source="halo-link-service.exe" KeyPath="yes"/>
            <ServiceInstall Id="HaloLinkService" Name="halo-link" DisplayName="Halo Link" Description="Answers Halo Cloud queries from this practice's PMS databases."
              Type="ownProcess" Start="auto" ErrorControl="normal" Account="LocalSystem" Vital="yes"/>
            <ServiceControl Id="HaloLinkService" Name="halo-link" Start="install" Stop="both" Remove="uninstall" Wait="yes"/>
          </Component>
${payload.map((f, i) => `          <Component Id="C${f.id}" Guid="8E1F2A60-3C7B-4B7E-9E0A-2B6D8F1C4B${String(i).padStart(2, '0')}" Win64="yes">
            <File Id="${f.id}" Name="${xml(f.name)}" Source="${xml(f.name)}" KeyPath="yes"/>
          </Component>`).join('\n')}
        </Directory>
      </Directory>
    </Directory>
    <CustomAction Id="WriteConfig" FileKey="HaloLinkExe" ExeCommand="${xml(install)}" Execute="deferred" Impersonate="no" Return="check"/>
    <CustomAction Id="Unregister" FileKey="HaloLinkExe" ExeCommand="uninstall --msi" Execute="deferred" Impersonate="no" Return="ignore"/>
    <CustomAction Id="UnregisterPurge" FileKey="HaloLinkExe" ExeCommand="uninstall --msi --purge" Execute="deferred" Impersonate="no" Return="ignore"/>
    <InstallExecuteSequence>
      <Custom Action="WriteConfig" Before="StartServices">NOT Installed AND ENROLTOKEN</Custom>
      <Custom Action="Unregister" Before="StopServices">REMOVE="ALL" AND NOT UPGRADINGPRODUCTCODE AND PURGE&lt;&gt;"1"</Custom>
      <Custom Action="UnregisterPurge" Before="StopServices">REMOVE="ALL" AND NOT UPGRADINGPRODUCTCODE AND PURGE="1"</Custom>
    </InstallExecuteSequence>
    <Feature Id="HaloLink" Title="Halo Link" Level="1">
      <ComponentRef Id="Service"/>
${payload.map((f) => `      <ComponentRef Id="C${f.id}"/>`).join('\n')}
    </Feature>
  </Product>
</Wix>
`;
}
