import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { z } from 'zod';
import { readLinuxMachineId } from './fingerprint-linux.ts';
import { readMacosMachineId } from './fingerprint-macos.ts';
import { readWindowsMachineId } from './fingerprint-windows.ts';

/**
 * What binds the agent's state to one machine. Only `machineId` decides whether the state moved: a host
 * rename alone is a legitimate change on the same server. `machineId` is a keyed hash of the OS machine id,
 * never the raw id (systemd asks applications not to expose it), so state files and logs do not leak it.
 */
export const MachineFingerprint = z.object({
  machineId: z.string().min(1).max(128),
  hostName: z.string().max(255),
});
export type MachineFingerprint = z.infer<typeof MachineFingerprint>;

/** Where the fingerprint comes from: the OS by default; tests inject one to simulate a move. */
export type FingerprintSource = () => MachineFingerprint | Promise<MachineFingerprint>;

/** Thrown when the OS machine id exists but cannot be read: guessing would re-mint every GUID. */
export class FingerprintError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FingerprintError';
  }
}

const HASH_KEY = 'halo-link machine fingerprint v1';

/** The app-specific form of a raw machine id (HMAC-SHA256, hex). */
export function hashMachineId(raw: string): string {
  return createHmac('sha256', HASH_KEY).update(raw, 'utf8').digest('hex');
}

/** The raw OS machine id, or null on a platform that has none (then the host name stands in). */
async function readOsMachineId(): Promise<string | null> {
  switch (process.platform) {
    case 'linux':
      return readLinuxMachineId();
    case 'win32':
      return readWindowsMachineId();
    case 'darwin':
      return readMacosMachineId();
    default:
      return null;
  }
}

/**
 * This machine's fingerprint. Without an OS machine id the host name is the machine id, so on such a platform a
 * rename counts as a move (new GUIDs, non-authoritative until support moves authority).
 */
export async function machineFingerprint(): Promise<MachineFingerprint> {
  const host = hostname();
  let raw: string | null;
  try {
    raw = await readOsMachineId();
  } catch (cause) {
    throw new FingerprintError(`cannot read this machine's id on ${process.platform}`, { cause });
  }
  return { machineId: hashMachineId(raw ?? `host:${host}`), hostName: host };
}

/** A source that reads `{machineId, hostName}` from a JSON file (HALO_FINGERPRINT_FILE; for tests only). */
export function fingerprintFromFile(path: string): FingerprintSource {
  return () => {
    try {
      return MachineFingerprint.parse(JSON.parse(readFileSync(path, 'utf8')));
    } catch (cause) {
      throw new FingerprintError(`cannot read the fingerprint file ${path}`, { cause });
    }
  };
}
