import { Kvm, type KV, type KvOptions } from '@nats-io/kv';

/** A connection, or a JetStream client of one (its options, such as a domain, then apply). */
type KvConnection = ConstructorParameters<typeof Kvm>[0];

/**
 * Creates a KV bucket if it is missing (idempotent across processes and replicas) and opens it for reads from its
 * stream leader.
 *
 * nats.js reads a bucket it created by direct gets, which any replica answers, and NATS promises no read-your-writes
 * there: a follower may answer before it has a write the leader acknowledged (kv-bucket.test.ts sees it happen on a
 * 3-node cluster). Readers here act on what they read: a worker drops a job whose record reads as missing, a registry
 * refuses an enrolment token issued a moment before on another replica, an integrator gets 404 for the registered
 * query it has just created. So every get goes to the leader. The stream itself keeps direct gets allowed: the
 * registry's batched key listings need them.
 */
export async function openBucket(nc: KvConnection, name: string, options: Partial<KvOptions>): Promise<KV> {
  await new Kvm(nc).create(name, options);
  return bindBucket(nc, name);
}

/**
 * Binds to a bucket someone else creates, without a JetStream API call; its gets go to the stream leader, as
 * openBucket's. Reads of a bucket that does not exist fail.
 */
export function bindBucket(nc: KvConnection, name: string): Promise<KV> {
  return new Kvm(nc).open(name, { allow_direct: false });
}
