/**
 * Entry of the shipped executable (`halo-link`): `run` the agent, `install` / `uninstall` / `status` / `doctor`,
 * `--version`. The same executable is also the agent's SQLite worker (started with the worker flag). From
 * source: `node services/agent/src/halo-link.ts <command>`.
 */
import { SQLITE_WORKER_FLAG } from '@halo/pms';
import { agentVersion } from './version.ts';

// No top-level await: the executable is a CommonJS bundle.
async function main(args: string[]): Promise<void> {
  if (args.includes(SQLITE_WORKER_FLAG)) {
    await import('@halo/pms/sqlite-worker');
  } else if (args[0] === '--version' || args[0] === 'version') {
    console.log(`halo-link ${agentVersion()}`);
  } else {
    const { runCli } = await import('./install/cli.ts');
    const code = await runCli(args);
    // A one-shot command is done (uninstall's agent may leave handles behind); `run` lives on as the service.
    if (args[0] !== 'run' && args[0] !== undefined) process.exit(code);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(`halo-link: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
