/**
 * Positioned, synchronous reads and writes of byte ranges, and byte-order swapping: the leaf helpers that
 * worker threads use to read their rows straight from `.npy` files and write straight into the output.
 * Imports nothing but `node:fs` and the error classes, so a worker stays light.
 */
import { readSync, writeSync } from 'node:fs';
import { NpyFormatError } from '../../errors.js';

/**
 * Fills `dest` with the bytes of the open file `fd` starting at byte `position`, looping over short reads.
 *
 * @throws {NpyFormatError} when the file ends before `dest` is full (truncated data); names `file`.
 */
export function readExactly(fd: number, dest: Uint8Array, position: number, file: string): void {
  let done = 0;
  while (done < dest.length) {
    const n = readSync(fd, dest, done, dest.length - done, position + done);
    if (n === 0) {
      throw new NpyFormatError(
        file,
        `truncated data: the file ends at byte ${position + done}, expected ${dest.length - done} more bytes`,
      );
    }
    done += n;
  }
}

/** Writes all of `src` into the open file `fd` at byte `position`, looping over short writes. */
export function writeExactly(fd: number, src: Uint8Array, position: number): void {
  let done = 0;
  while (done < src.length) {
    done += writeSync(fd, src, done, src.length - done, position + done);
  }
}

/** Reverses the byte order of each `itemSize`-byte element of `bytes` in place (big ↔ little endian). */
export function swapBytes(bytes: Uint8Array, itemSize: number): void {
  if (itemSize === 2) {
    for (let i = 0; i + 1 < bytes.length; i += 2) {
      const a = bytes[i];
      bytes[i] = bytes[i + 1];
      bytes[i + 1] = a;
    }
  } else if (itemSize > 2) {
    for (let i = 0; i + itemSize <= bytes.length; i += itemSize) {
      for (let lo = i, hi = i + itemSize - 1; lo < hi; lo++, hi--) {
        const a = bytes[lo];
        bytes[lo] = bytes[hi];
        bytes[hi] = a;
      }
    }
  }
}
