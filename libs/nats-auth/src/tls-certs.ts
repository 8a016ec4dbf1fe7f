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

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
const run = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });

/**
 * Makes a private CA and a server certificate for `hosts` (DNS names and IP addresses as subject alternative
 * names) with openssl, P-256 keys. For tests and the local demo; production may bring certificates of its own.
 */
export function generateCertificates(dir: string, options: { hosts?: string[]; days?: number; name?: string } = {}): CertificateFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, 'ca.pem');
  const caKeyFile = join(dir, 'ca-key.pem');
  run(['req', '-x509', ...EC_KEY, '-keyout', caKeyFile, '-out', caFile, '-days', String(options.days ?? 825), '-subj', '/CN=Halo private CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const issued = issueCertificate({ caFile, caKeyFile }, dir, {
    name: options.name ?? 'server', hosts: options.hosts ?? ['localhost', '127.0.0.1'], ...(options.days ? { days: options.days } : {}),
  });
  return { caFile, caKeyFile, ...issued };
}

/**
 * Issues a certificate signed by an existing CA into `dir` (`<name>-cert.pem`, `<name>-key.pem`). `clientAuth`
 * adds the client usage a hub node needs on its routes, where each node also dials the others with it.
 */
export function issueCertificate(
  ca: { caFile: string; caKeyFile: string },
  dir: string,
  options: { name: string; hosts: string[]; days?: number; clientAuth?: boolean },
): { certFile: string; keyFile: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const certFile = join(dir, `${options.name}-cert.pem`);
  const keyFile = join(dir, `${options.name}-key.pem`);
  const csr = join(dir, `${options.name}.csr`);
  const ext = join(dir, `${options.name}.ext`);
  const serial = join(dir, `${options.name}.srl`);
  const san = options.hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  const usage = options.clientAuth ? 'serverAuth,clientAuth' : 'serverAuth';
  writeFileSync(ext, `subjectAltName=${san}\nextendedKeyUsage=${usage}\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n`);
  try {
    run(['req', ...EC_KEY, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${options.hosts[0] ?? 'localhost'}`]);
    run(['x509', '-req', '-in', csr, '-CA', ca.caFile, '-CAkey', ca.caKeyFile, '-CAserial', serial, '-CAcreateserial',
      '-out', certFile, '-days', String(options.days ?? 825), '-extfile', ext]);
  } finally {
    for (const f of [csr, ext, serial]) rmSync(f, { force: true });
  }
  return { certFile, keyFile };
}
