import type { z } from 'zod';
import { runService, type LogLevel } from '@halo/config';
import { createLogger } from '@halo/log';
import { startAgent } from './agent.ts';
import { loadAgentConfig } from './config.ts';
import { fingerprintFromFile } from './fingerprint.ts';

export interface RunAgentOptions {
  configFile: string;
  logLevel: z.infer<typeof LogLevel>;
  /** Test hook: read the machine fingerprint from this JSON file instead of the OS (simulates a move). */
  fingerprintFile?: string | undefined;
  /** Unregister (the uninstaller runs this before it removes the service) instead of serving. */
  uninstall?: boolean;
}

/** The agent as a service: runs until SIGINT/SIGTERM, or, with `uninstall`, unregisters and exits. */
export async function runAgent(options: RunAgentOptions): Promise<void> {
  const log = createLogger({ name: 'agent', level: options.logLevel });
  const config = loadAgentConfig(options.configFile);
  const fingerprint = options.fingerprintFile ? { fingerprintSource: fingerprintFromFile(options.fingerprintFile) } : {};
  if (options.uninstall) {
    // The registry marks this link's sites uninstalled (authority stays where it is), then the agent stops.
    const agent = await startAgent({ config, log, ...fingerprint });
    await agent.uninstall();
    return;
  }
  await runService({
    log,
    async start(scope) {
      const agent = await startAgent({ config, log, ...fingerprint });
      scope.defer('agent', () => agent.close());
    },
  });
}
