import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';

/**
 * Signed releases (after Tailscale's scheme): an offline root key signs a short list of signing keys (rotated
 * without a new agent build), and one of those signs each release manifest. Ed25519 throughout (node:crypto).
 * A signed document is its JSON payload (base64, so the bytes verified are the bytes parsed) and a signature.
 */
export const SignedDocument = z.object({ payload: z.string().min(1).max(1_000_000), keyId: z.string().min(1).max(64), signature: z.string().min(1).max(200) }).strict();
export type SignedDocument = z.infer<typeof SignedDocument>;

/** The signing keys the root vouches for (public keys as base64 DER SPKI), each until `notAfter`. */
export const SigningKeys = z.object({
  keys: z.array(z.object({ id: z.string().min(1).max(64), publicKey: z.string().min(1), notAfter: z.string().datetime() }).strict()).min(1).max(16),
}).strict();
export type SigningKeys = z.infer<typeof SigningKeys>;

/** One file of a release for one os/arch (the executable, nats-server, the SQLite module, VERSION). */
export const ReleaseFile = z.object({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
  url: z.string().url(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().positive().max(512 * 1024 ** 2),
}).strict();
export type ReleaseFile = z.infer<typeof ReleaseFile>;

/** A release: its version, until when the manifest may be acted on, the share of links it goes to, and its files per os/arch. */
export const ReleaseManifest = z.object({
  version: z.string().regex(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/),
  expiresAt: z.string().datetime(),
  rolloutPercent: z.number().min(0).max(100),
  platforms: z.record(z.string().regex(/^(linux|win32)-(x64|arm64)$/), z.array(ReleaseFile).min(1).max(8)),
}).strict();
export type ReleaseManifest = z.infer<typeof ReleaseManifest>;

/** What the manifest URL serves: the root-signed signing keys and the manifest signed by one of them. */
export const ReleaseDocument = z.object({ signingKeys: SignedDocument, manifest: SignedDocument }).strict();
export type ReleaseDocument = z.infer<typeof ReleaseDocument>;

/** Why an update was refused: stable codes, shown in updateStatus. */
export type UpdateRefusal = 'bad_document' | 'bad_signature' | 'unknown_key' | 'expired' | 'downgrade' | 'no_platform' | 'bad_size' | 'bad_hash' | 'download_failed';

/** Thrown when a release is refused; `code` says why. */
export class UpdateRefused extends Error {
  readonly code: UpdateRefusal;
  constructor(code: UpdateRefusal, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UpdateRefused';
    this.code = code;
  }
}

/** An Ed25519 public key from base64 DER SPKI. */
export function publicKeyFrom(base64: string): KeyObject {
  return createPublicKey({ key: Buffer.from(base64, 'base64'), format: 'der', type: 'spki' });
}

/** Signs `value` as a SignedDocument (release tooling and tests; the private keys never reach an agent). */
export function signDocument(value: unknown, keyId: string, privateKey: KeyObject): SignedDocument {
  const payload = Buffer.from(JSON.stringify(value), 'utf8');
  return { payload: payload.toString('base64'), keyId, signature: sign(null, payload, privateKey).toString('base64') };
}

function openDocument<T>(doc: SignedDocument, key: KeyObject, schema: z.ZodType<T>, what: string): T {
  const payload = Buffer.from(doc.payload, 'base64');
  if (!verify(null, payload, key, Buffer.from(doc.signature, 'base64'))) throw new UpdateRefused('bad_signature', `the ${what} signature does not verify`);
  const parsed = schema.safeParse(JSON.parse(payload.toString('utf8')));
  if (!parsed.success) throw new UpdateRefused('bad_document', `the ${what} does not parse`);
  return parsed.data;
}

/** -1, 0 or 1: semver order of the core and pre-release (build metadata after `+` is ignored). */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const [core = '', pre] = v.split('+')[0]!.split(/-(.*)/s);
    return { core: core.split('.').map(Number), pre };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < 3; i++) if ((x.core[i] ?? 0) !== (y.core[i] ?? 0)) return (x.core[i] ?? 0) > (y.core[i] ?? 0) ? 1 : -1;
  if (x.pre === y.pre) return 0;
  if (x.pre === undefined) return 1;
  if (y.pre === undefined) return -1;
  return x.pre > y.pre ? 1 : -1;
}

/** Whether this link is in the release's rollout: a stable hash of Link GUID and version, under the percentage. */
export function inRollout(linkGuid: string, version: string, percent: number): boolean {
  const bucket = createHash('sha256').update(`${linkGuid}\n${version}`).digest().readUInt32BE(0) % 10_000;
  return bucket < percent * 100;
}

/**
 * Verifies a release document against the built-in root key: the signing keys (root-signed, unexpired), the
 * manifest (signed by one of them, unexpired), and that it is newer than `current`; returns the manifest. Equal
 * versions return null (up to date).
 */
export function verifyRelease(raw: unknown, rootKey: KeyObject, current: string, now = Date.now()): ReleaseManifest | null {
  const doc = ReleaseDocument.safeParse(raw);
  if (!doc.success) throw new UpdateRefused('bad_document', 'the release document does not parse');
  const { keys } = openDocument(doc.data.signingKeys, rootKey, SigningKeys, 'signing keys');
  const entry = keys.find((k) => k.id === doc.data.manifest.keyId && Date.parse(k.notAfter) > now);
  if (!entry) throw new UpdateRefused('unknown_key', `the manifest is signed by key ${doc.data.manifest.keyId}, which the root key does not vouch for (or no longer)`);
  const manifest = openDocument(doc.data.manifest, publicKeyFrom(entry.publicKey), ReleaseManifest, 'manifest');
  if (Date.parse(manifest.expiresAt) <= now) throw new UpdateRefused('expired', `the manifest expired at ${manifest.expiresAt}`);
  const order = compareVersions(manifest.version, current);
  if (order < 0) throw new UpdateRefused('downgrade', `the manifest offers ${manifest.version}, older than ${current}`);
  return order === 0 ? null : manifest;
}
