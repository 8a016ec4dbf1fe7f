export * from './nats.ts';
export * from './cleanup.ts';
export * from './cluster.ts';
export * from './tds/index.ts';
export * from './secure-hub.ts';
export * from './async-record.ts';
