export * from './nats.ts';
