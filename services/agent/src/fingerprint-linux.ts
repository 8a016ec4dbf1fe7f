import { readFile } from 'node:fs/promises';

/** systemd's file first, then the D-Bus copy that older or systemd-less distributions keep. */
const PATHS = ['/etc/machine-id', '/var/lib/dbus/machine-id'];

/**
 * The Linux machine id, or null when neither file exists (containers, minimal systems). A file that exists but
 * cannot be read is an error: falling back would look like a move and re-mint every GUID.
 */
export async function readLinuxMachineId(paths: readonly string[] = PATHS): Promise<string | null> {
  for (const path of paths) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new Error(`cannot read the machine id at ${path}`, { cause: err });
    }
    const id = text.trim();
    // An empty file or systemd's first-boot placeholder is not an identity yet.
    if (/^[0-9a-f]{32}$/i.test(id)) return id.toLowerCase();
  }
  return null;
}
