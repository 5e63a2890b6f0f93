/**
 * Temporary files of writers that died hard. The atomic writer's temporary file is named after the target
 * and the writing process (`.<target>.<pid>-<hex>.tmp`); a process killed with SIGKILL (or by the OOM
 * killer, or a power cut) cannot remove its own, so the next writer of the same target removes the
 * temporaries whose process no longer exists.
 */
import { readdir, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The temporary file name of a writer of `target` in process `pid`. */
export function tempName(target: string, pid: number, tag: string): string {
  return join(dirname(target), `.${basename(target)}.${pid}-${tag}.tmp`);
}

/** True when a process with id `pid` exists on this machine (one we may not signal counts as existing). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Removes the temporary files that writers of `target` left behind when their process died without
 * cleaning up. Files of live processes (this one included) are kept, so concurrent writers are safe; a
 * file whose process id was reused by a new process is kept until that process ends. Best effort: a
 * directory that cannot be listed, or a file that cannot be removed, is left as it is.
 *
 * @returns The paths removed.
 */
export async function removeStaleTemps(target: string): Promise<string[]> {
  const prefix = `.${basename(target)}.`;
  const dir = dirname(target);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const m = /^(\d+)-[0-9a-f]+\.tmp$/.exec(name.slice(prefix.length));
    if (m === null) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || !Number.isSafeInteger(pid) || pid < 1 || alive(pid)) continue;
    const path = join(dir, name);
    try {
      await unlink(path);
      removed.push(path);
    } catch {
      // Gone already (another writer cleaned it) or not ours to remove: leave it.
    }
  }
  return removed;
}
