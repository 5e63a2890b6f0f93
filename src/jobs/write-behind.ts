/**
 * Write-behind for the outputs of file jobs, as a worker thread writes them range by range: each range is
 * handed to the disk as soon as it is written, and once a thread has more than {@link WINDOW_BYTES} in
 * flight its oldest range is waited for and dropped from the page cache (native/writeback.c says why: the
 * final fsync then has almost nothing left, and the output cycles through pages just freed instead of
 * gigabytes of pages the kernel must find first). The file's bytes are the same either way, and the final
 * fsync of the atomic commit still stands behind them.
 *
 * Without the addon (`MEAN_FUSION_KERNEL=wasm`), or where the system lacks the calls, ranges are written
 * with plain positioned writes and the final fsync does all the writing back, as before.
 *
 * A leaf for the workers: imports only the positioned write helper and the kernel loader.
 */
import { closeSync, openSync } from 'node:fs';
import { constants } from 'node:os';
import { getSystemErrorName } from 'node:util';
import { writeExactly } from '../io/npy/range.js';
import { nativeKernel } from '../kernels/native.js';

/** The addon's writeback calls (native/writeback.c); each returns 0 or an errno value. */
export interface NativeWritebackExports {
  startWriteback(fd: number, offset: number, length: number): number;
  dropWritten(fd: number, offset: number, length: number): number;
  preallocate(fd: number, offset: number, length: number): number;
}

/**
 * Output bytes a thread keeps written but not yet dropped: enough that the disk has finished a range by
 * the time the thread comes back to it (so the wait is short), small beside the memory limit.
 */
const WINDOW_BYTES = 32 * 1024 * 1024;

/** Errors that mean "not here" (no such call, a file system or file that does not support it). */
const UNSUPPORTED = new Set<number>(
  ['ENOSYS', 'EINVAL', 'ESPIPE', 'EOPNOTSUPP', 'ENOTSUP'].flatMap((name) => {
    const code = (constants.errno as Record<string, number | undefined>)[name];
    return code === undefined ? [] : [code];
  }),
);

interface Written {
  readonly path: string;
  readonly offset: number;
  readonly length: number;
}

/** This thread's ranges handed to the disk and not yet dropped, oldest first. */
const pending: Written[] = [];
let pendingBytes = 0;
let supported = true;

function writeback(): NativeWritebackExports | null {
  const k = nativeKernel() as unknown as Partial<NativeWritebackExports> | null;
  return k !== null && typeof k.dropWritten === 'function' ? (k as NativeWritebackExports) : null;
}

/** An Error as Node's file system functions make them (`code`, `errno`). */
function systemError(errno: number, what: string): Error {
  const code = getSystemErrorName(-errno);
  return Object.assign(new Error(`${code}: ${what}`), { code, errno: -errno });
}

/**
 * Waits for the oldest range's writeback and drops its pages. A range of a file that is gone (its job
 * committed or discarded it since) is skipped; a write error is thrown, since the kernel now counts it as
 * reported and the final fsync would no longer see it.
 */
function dropOldest(k: NativeWritebackExports, fd: number, path: string): void {
  const old = pending.shift() as Written;
  pendingBytes -= old.length;
  let ownFd = -1;
  if (old.path !== path) {
    try {
      ownFd = openSync(old.path, 'r');
    } catch {
      return;
    }
  }
  try {
    const errno = k.dropWritten(ownFd >= 0 ? ownFd : fd, old.offset, old.length);
    if (errno === 0) return;
    if (UNSUPPORTED.has(errno)) {
      supported = false;
      return;
    }
    throw systemError(errno, `writing the output ${old.path} back to disk failed`);
  } finally {
    if (ownFd >= 0) closeSync(ownFd);
  }
}

/**
 * Writes all of `bytes` into the open output file `fd` (of `path`) at `position`, then starts writing it
 * back and drops this thread's ranges beyond {@link WINDOW_BYTES} (see the module's comment).
 *
 * @throws {Error} Node's write errors; a write-back error (`EIO`, `ENOSPC`, …) with its `code`.
 */
export function writeOutput(fd: number, path: string, bytes: Uint8Array, position: number): void {
  writeExactly(fd, bytes, position);
  const k = supported ? writeback() : null;
  if (k === null || bytes.length === 0) return;
  // Starting writeback neither waits nor reports errors (the wait in dropWritten, or fsync, does).
  const errno = k.startWriteback(fd, position, bytes.length);
  if (errno !== 0) {
    if (UNSUPPORTED.has(errno)) supported = false;
    return;
  }
  pending.push({ path, offset: position, length: bytes.length });
  pendingBytes += bytes.length;
  while (supported && pendingBytes > WINDOW_BYTES) dropOldest(k, fd, path);
}

/**
 * Reserves the blocks of bytes `[offset, offset + length)` of the file at `path` (inside its current size)
 * so that writes into them need no allocation; best effort: does nothing without the addon or where the
 * file system cannot (a later write reports a full disk, as without it).
 */
export function preallocate(path: string, offset: number, length: number): void {
  const k = writeback();
  if (k === null || length === 0) return;
  const fd = openSync(path, 'r+');
  try {
    k.preallocate(fd, offset, length);
  } finally {
    closeSync(fd);
  }
}
