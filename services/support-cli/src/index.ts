export { runCli, USAGE, type CliIo } from './cli.ts';
