#!/usr/bin/env node
// `halo-support` (npm run support -- <command>): the only file that reads the environment and argv.
import { runCli } from './cli.ts';

process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
});
