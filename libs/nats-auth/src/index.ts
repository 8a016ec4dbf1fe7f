export * from './keys.ts';
export * from './jwt.ts';
export * from './creds.ts';
export * from './claims.ts';
export * from './setup.ts';
export * from './tls-certs.ts';
export * from './account-updates.ts';
export * from './cluster-config.ts';
