// Public entry of @halo/nats-server: finding a nats-server binary of the minimum version, rendering the config
// templates this package ships, and running a server as a supervised child process.
export * from './binary.ts';
export * from './config.ts';
export * from './process.ts';
