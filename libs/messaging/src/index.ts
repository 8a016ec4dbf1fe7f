export * from './connect.ts';
export * from './json-codec.ts';
export * from './json-request.ts';
export { headers, nuid } from '@nats-io/transport-node';
export * from './ack-router.ts';
export * from './chunk-sender.ts';
export * from './reply-router.ts';
export { GZIP_MIN_BYTES, MAX_RAW_CHUNK_BYTES } from './chunk-encoding.ts';
export * from './jetstream-retry.ts';
