/**
 * What support pastes on a new practice server with its one-time token: the `enrolment` block of the agent's
 * config and the command that starts it. The Halo Link installer (another change) replaces this with its own
 * command line when it lands.
 */
export function installInstructions(facadeUrl: string, token: string): { config: string; command: string } {
  return {
    config: JSON.stringify({ enrolment: { url: facadeUrl, token, caFile: 'ca.pem' } }, null, 2),
    command: 'HALO_AGENT_CONFIG=link.json node services/agent/src/main.ts',
  };
}
