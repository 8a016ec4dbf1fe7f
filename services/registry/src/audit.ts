import { DeliverPolicy, jetstream, jetstreamManager, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { AppError, AuditEntry, subjects } from '@halo/contracts';
import { practiceToken } from '@halo/registry-data';

/** The audit stream of ARCHITECTURE §5: authority changes and site retirements. Never query data. */
export const AUDIT_STREAM = 'audit';

/** Most entries one read scans (the trail is small: support actions and site retirements). */
const MAX_SCAN = 100_000;

/** Appends to and reads the `audit` stream. */
export class AuditLog {
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;

  private constructor(js: JetStreamClient, jsm: JetStreamManager) {
    this.#js = js;
    this.#jsm = jsm;
  }

  /** Creates the stream if missing (idempotent across replicas) and opens it. */
  static async open(nc: NatsConnection, replicas: number): Promise<AuditLog> {
    const jsm = await jetstreamManager(nc);
    const exists = async () => jsm.streams.info(AUDIT_STREAM).then(() => true, () => false);
    if (!(await exists())) {
      try {
        await jsm.streams.add({
          name: AUDIT_STREAM,
          subjects: [subjects.auditAll()],
          storage: StorageType.File,
          num_replicas: replicas,
          // Kept for ever: an audit trail that ages out is not one. Dedup window covers retried appends.
          duplicate_window: 2 * 60 * 1_000_000_000,
        });
      } catch (err) {
        // Another replica created it between our look and our add.
        if (!(await exists())) throw err;
      }
    }
    return new AuditLog(jetstream(nc), jsm);
  }

  /**
   * Appends one entry. `msgId` makes retries idempotent (the server drops a duplicate within two minutes), so a
   * change is audited once even when the first publish's ack was lost.
   */
  async append(entry: AuditEntry, msgId: string): Promise<void> {
    if (entry.pmsType === undefined || entry.pmsId === undefined) throw new TypeError('audit entries name their practice');
    const subject = subjects.audit(entry.action === 'authority.moved' ? 'authority' : 'site', entry.pmsType, practiceToken(entry.pmsId));
    const data = JSON.stringify(AuditEntry.parse(entry));
    let last: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await this.#js.publish(subject, data, { msgID: msgId, timeout: 5000 });
        return;
      } catch (err) {
        last = err;
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      }
    }
    throw new AppError('registry_unavailable', 'the audit entry could not be written', { cause: last });
  }

  /** Appends an entry about a link's credentials, an enrolment token or integrator keys (no practice to file it under). */
  async appendCredentials(entry: AuditEntry, kind: 'link' | 'token' | 'integrator', id: string, msgId?: string): Promise<void> {
    const data = JSON.stringify(AuditEntry.parse(entry));
    try {
      await this.#js.publish(subjects.auditCredentials(kind, id), data, { ...(msgId ? { msgID: msgId } : {}), timeout: 5000 });
    } catch (cause) {
      throw new AppError('registry_unavailable', 'the audit entry could not be written', { cause });
    }
  }

  /** The newest `limit` entries, oldest first; of one practice when `pmsType` and/or `pmsId` are given. */
  async read(filter: { pmsType?: string; pmsId?: string }, limit: number): Promise<AuditEntry[]> {
    const subject = filter.pmsType !== undefined || filter.pmsId !== undefined
      ? `halo.v1.audit.*.${filter.pmsType ?? '*'}.${filter.pmsId !== undefined ? practiceToken(filter.pmsId) : '*'}`
      : subjects.auditAll();
    // Counting first: a fetch for messages that do not exist would wait out its expiry.
    const info = await this.#jsm.streams.info(AUDIT_STREAM, { subjects_filter: subject });
    const total = Math.min(Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0), MAX_SCAN);
    const out: AuditEntry[] = [];
    if (total === 0) return out;
    const consumer = await this.#js.consumers.get(AUDIT_STREAM, { filter_subjects: [subject], deliver_policy: DeliverPolicy.All });
    try {
      const messages = await consumer.fetch({ max_messages: total, expires: 5000 });
      for await (const m of messages) {
        const parsed = AuditEntry.safeParse(m.json());
        if (parsed.success) {
          out.push({ ...parsed.data, seq: m.seq });
          if (out.length > limit) out.shift();
        }
        if (m.info.pending === 0) break;
      }
      return out;
    } finally {
      await consumer.delete().catch(() => undefined);
    }
  }
}
