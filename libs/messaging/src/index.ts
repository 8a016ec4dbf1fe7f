export * from './connect.ts';
export * from './rpc.ts';
export * from './nats-server-binary.ts';
export * from './nats-server-process.ts';
export { headers, nuid } from '@nats-io/transport-node';
