export { runAdmin, USAGE, type InitResult } from './cli.ts';
