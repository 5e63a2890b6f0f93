/**
 * Write-behind for the outputs of file jobs, as a worker thread writes them range by range: each range is
 * handed to the disk as soon as it is written, and once a thread has more than {@link WINDOW_BYTES} in
 * flight its oldest range's pages, written back by then, are dropped from the page cache
 * (native/writeback.c says why: the final fsync then has almost nothing left, and the output cycles through
 * pages just freed instead of gigabytes of pages the kernel must find first). Nothing here waits for the
 * writes to complete or reports their errors: the file's bytes are the same either way, and the final
 * fsync of the atomic commit still writes back whatever is left and reports any write error.
 *
 * Without the addon (`MEAN_FUSION_KERNEL=wasm`), or where the system lacks the calls, ranges are written
 * with plain positioned writes and the final fsync does all the writing back, as before.
 *
 * A leaf for the workers: imports only the positioned write helper and the kernel loader.
 */
import { closeSync, openSync } from 'node:fs';
import { writeExactly } from '../io/npy/range.js';
import { nativeKernel } from '../kernels/native.js';

/** The addon's writeback calls (native/writeback.c); each returns 0 or an errno value. */
export interface NativeWritebackExports {
  startWriteback(fd: number, offset: number, length: number): number;
  dropCached(fd: number, offset: number, length: number): number;
  preallocate(fd: number, offset: number, length: number): number;
}

/**
 * Output bytes a thread keeps written but not yet dropped: enough that the disk has mostly finished a
 * range by the time the thread comes back to it (pages still being written back are not dropped), small
 * beside the memory limit. Measured against 96 MiB, and against waiting for the writeback first: no faster.
 */
const WINDOW_BYTES = 32 * 1024 * 1024;

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
  return k !== null && typeof k.dropCached === 'function' ? (k as NativeWritebackExports) : null;
}

/**
 * Drops the oldest range's clean pages from the cache; a range of a file that is gone (its job committed or
 * discarded it since) is skipped.
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
    if (k.dropCached(ownFd >= 0 ? ownFd : fd, old.offset, old.length) !== 0) supported = false;
  } finally {
    if (ownFd >= 0) closeSync(ownFd);
  }
}

/**
 * Writes all of `bytes` into the open output file `fd` (of `path`) at `position`, then starts writing it
 * back and drops this thread's ranges beyond {@link WINDOW_BYTES} (see the module's comment).
 *
 * @throws {Error} Node's write errors (as `writeSync`).
 */
export function writeOutput(fd: number, path: string, bytes: Uint8Array, position: number): void {
  writeExactly(fd, bytes, position);
  const k = supported ? writeback() : null;
  if (k === null || bytes.length === 0) return;
  // Any failure here means the call is not supported for this file or system (it neither waits nor reports
  // write errors, which the final fsync does): write the rest as before.
  if (k.startWriteback(fd, position, bytes.length) !== 0) {
    supported = false;
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
