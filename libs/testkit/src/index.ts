export * from './nats.ts';
export * from './cleanup.ts';
