export { initSecrets, runAdmin, USAGE, type InitResult } from './cli.ts';
