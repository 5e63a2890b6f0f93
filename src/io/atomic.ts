/**
 * Atomic creation of files: the data goes to a temporary file beside the target (same directory, so the
 * final rename stays on one file system), which is flushed to disk and then moved into place. Readers never
 * see a half-written target, and an existing target is untouched until the final step. Shared by the .npy
 * and safetensors writers.
 *
 * ## References
 * - POSIX `rename(2)` (atomic replacement) and `link(2)` (fails with `EEXIST`: atomic no-clobber).
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, type FileHandle, link, lstat, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileProblem, OutputExistsError } from '../errors.js';
import { removeStaleTemps, tempName } from './stale.js';

/** Options of {@link createAtomicFile}. */
export interface AtomicWriteOptions {
  /**
   * Replace an existing file at the target.
   * @default false
   */
  overwrite?: boolean;
}

/** A file being written: header in place, data area sized, to be filled at {@link dataOffset}. */
export interface AtomicFileWriter {
  /** Where the file will appear on {@link commit}. */
  readonly target: string;
  /** The temporary file beside the target that receives the data. */
  readonly tempPath: string;
  /** Byte offset of the data area (the header's length). */
  readonly dataOffset: number;
  /** Bytes of data. */
  readonly dataBytes: number;
  /**
   * Flushes the temporary file to disk and moves it to the target.
   * @throws {OutputExistsError} when the target appeared meanwhile and `overwrite` is false (the temporary
   *   file is then removed).
   */
  commit(): Promise<void>;
  /** Removes the temporary file (harmless if already gone or committed). */
  discard(): Promise<void>;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Creates the temporary file beside `target`: writes `header` and extends the file to its final length
 * (header + `dataBytes`), so that workers can write their ranges at their offsets in any order.
 *
 * @throws {OutputExistsError} when `target` exists and `overwrite` is not true, or exists and is not a
 *   regular file (a symlink, directory or device is never replaced).
 * @throws {Error} `Cannot create <target>: <code>` (with Node's `code`: `ENOENT`, `EACCES`, …) when the
 *   temporary file cannot be created beside the target; `ENOSPC` and other errors while sizing it.
 */
export async function createAtomicFile(
  target: string,
  header: Uint8Array,
  dataBytes: number,
  options: AtomicWriteOptions = {},
): Promise<AtomicFileWriter> {
  const overwrite = options.overwrite === true;
  // A writer killed hard (SIGKILL, OOM killer) left its temporary file behind: remove those of dead processes.
  await removeStaleTemps(target);
  const existing = await lstat(target).catch(() => undefined);
  if (existing !== undefined && !existing.isFile()) {
    // Replacing a device, directory or symlink with a regular file would damage something else.
    const kind = existing.isSymbolicLink()
      ? 'a symbolic link'
      : existing.isDirectory()
        ? 'a directory'
        : 'not a regular file';
    throw new OutputExistsError(target, `it is ${kind}, which is never replaced: choose another output path`);
  }
  if (!overwrite && existing !== undefined) throw new OutputExistsError(target);
  const tempPath = tempName(target, process.pid, randomBytes(4).toString('hex'));
  let fh: FileHandle;
  try {
    fh = await open(tempPath, 'wx');
  } catch (error) {
    // Node's message would name the temporary file, which the caller never asked for.
    const e = error as NodeJS.ErrnoException;
    const words = e.code === undefined ? '' : ` (${fileProblem(e)})`;
    throw Object.assign(
      new Error(`Cannot create ${target}: ${e.code ?? e.message}${words}`, { cause: error }),
      {
        code: e.code,
      },
    );
  }
  let state: 'open' | 'committed' | 'discarded' = 'open';
  const discard = async (): Promise<void> => {
    if (state !== 'open') return;
    state = 'discarded';
    await unlink(tempPath).catch(() => undefined);
  };
  try {
    await fh.write(header, 0, header.length, 0);
    await fh.truncate(header.length + dataBytes);
  } catch (error) {
    await fh.close().catch(() => undefined);
    await discard();
    throw error;
  }
  await fh.close();
  return {
    target,
    tempPath,
    dataOffset: header.length,
    dataBytes,
    async commit() {
      if (state !== 'open') throw new Error(`${tempPath} was already ${state}`);
      try {
        const h = await open(tempPath, 'r+');
        try {
          await h.sync();
        } finally {
          await h.close();
        }
        if (overwrite) await rename(tempPath, target);
        else await linkNoClobber(tempPath, target);
        state = 'committed';
      } catch (error) {
        await discard();
        throw error;
      }
      await syncDir(dirname(target));
    },
    discard,
  };
}

/** Moves `from` to `to` unless `to` exists: `link` fails atomically with EEXIST, then the temp is unlinked. */
export async function linkNoClobber(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new OutputExistsError(to);
    // File systems without hard links: check, then rename (not atomic against a concurrent creator).
    if (await exists(to)) throw new OutputExistsError(to);
    await rename(from, to);
    return;
  }
  await unlink(from);
}

/** Flushes a directory entry change to disk where the platform allows it (best effort). */
export async function syncDir(dir: string): Promise<void> {
  try {
    const h = await open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory; the rename itself has happened.
  }
}
