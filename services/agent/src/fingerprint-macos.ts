import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The hardware UUID macOS reports for the platform expert device. Only called on darwin. */
export async function readMacosMachineId(): Promise<string | null> {
  const { stdout } = await run('ioreg', ['-rd1', '-c', 'IOPlatformExpertDevice'], { timeout: 10_000 });
  const m = /"IOPlatformUUID"\s*=\s*"([^"]+)"/.exec(stdout);
  if (!m?.[1]) throw new Error('ioreg printed no IOPlatformUUID');
  return m[1].toLowerCase();
}
