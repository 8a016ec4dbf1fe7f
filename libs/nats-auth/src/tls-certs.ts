import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A CA and one server certificate it signed (PEM files). */
export interface CertificateFiles {
  caFile: string;
  /** The CA's private key: only the admin needs it (to issue more certificates). */
  caKeyFile: string;
  certFile: string;
  keyFile: string;
}

/**
 * Makes a private CA and a server certificate for `hosts` (DNS names and IP addresses as subject alternative
 * names) with openssl, P-256 keys. For tests and the local demo; production may bring certificates of its own.
 */
export function generateCertificates(dir: string, options: { hosts?: string[]; days?: number; name?: string } = {}): CertificateFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const hosts = options.hosts ?? ['localhost', '127.0.0.1'];
  const name = options.name ?? 'server';
  const files: CertificateFiles = {
    caFile: join(dir, 'ca.pem'),
    caKeyFile: join(dir, 'ca-key.pem'),
    certFile: join(dir, `${name}-cert.pem`),
    keyFile: join(dir, `${name}-key.pem`),
  };
  const days = String(options.days ?? 825);
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', files.caKeyFile, '-out', files.caFile, '-days', days, '-subj', '/CN=Halo private CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  const san = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  writeFileSync(ext, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n`);
  run(['req', ...ec, '-keyout', files.keyFile, '-out', csr, '-subj', `/CN=${hosts[0] ?? 'localhost'}`]);
  run(['x509', '-req', '-in', csr, '-CA', files.caFile, '-CAkey', files.caKeyFile, '-CAcreateserial', '-out', files.certFile, '-days', days, '-extfile', ext]);
  rmSync(csr, { force: true });
  rmSync(ext, { force: true });
  rmSync(join(dir, 'ca.srl'), { force: true });
  return files;
}
