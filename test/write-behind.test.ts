// Write-behind (src/jobs/write-behind.ts, native/writeback.c): the bytes in the file are exactly those
// written, whether the ranges were handed to the disk and dropped from the page cache, or (no addon) only
// written; a dropped range of a file removed meanwhile is skipped; preallocation keeps the size
// and the contents.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type NativeWritebackExports, preallocate, writeOutput } from '../src/jobs/write-behind.js';
import { nativeKernel } from '../src/kernels/native.js';

const MiB = 1024 * 1024;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mean-fusion-write-behind-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** `bytes` bytes whose value depends on the position and a seed, so misplaced ranges show. */
function pattern(bytes: number, seed: number): Uint8Array {
  const a = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) a[i] = (i * 31 + seed * 7 + (i >> 12)) & 0xff;
  return a;
}

/** Writes `data` into a new file at `path` in `pieces` ranges, in a scrambled order, through writeOutput. */
function writeInPieces(path: string, data: Uint8Array, pieces: number): void {
  truncateSync(openAndClose(path), data.length);
  const size = Math.ceil(data.length / pieces);
  const order = Array.from({ length: pieces }, (_, i) => (i * 7) % pieces);
  const fd = openSync(path, 'r+');
  try {
    for (const i of order) {
      const at = i * size;
      writeOutput(fd, path, data.subarray(at, Math.min(data.length, at + size)), at);
    }
  } finally {
    closeSync(fd);
  }
}

function openAndClose(path: string): string {
  closeSync(openSync(path, 'w'));
  return path;
}

describe('writeOutput', () => {
  it('writes every range at its offset, beyond the write-behind window too', () => {
    const path = join(dir, 'out.bin');
    const data = pattern(48 * MiB + 123, 1);
    writeInPieces(path, data, 53);
    expect(Buffer.compare(readFileSync(path), data)).toBe(0);
  });

  it('writes an empty range and a single byte', () => {
    const path = openAndClose(join(dir, 'small.bin'));
    const fd = openSync(path, 'r+');
    try {
      writeOutput(fd, path, new Uint8Array(0), 0);
      writeOutput(fd, path, new Uint8Array([42]), 5);
    } finally {
      closeSync(fd);
    }
    expect([...readFileSync(path)]).toEqual([0, 0, 0, 0, 0, 42]);
  });

  it('skips a pending range of a file removed meanwhile and goes on with the next file', () => {
    const first = join(dir, 'first.bin');
    writeInPieces(first, pattern(20 * MiB, 2), 5);
    rmSync(first);
    const second = join(dir, 'second.bin');
    const data = pattern(40 * MiB, 3);
    writeInPieces(second, data, 10);
    expect(Buffer.compare(readFileSync(second), data)).toBe(0);
  });
});

describe('preallocate', () => {
  it('keeps the size and the (zero) contents of the range, and the bytes outside it', () => {
    const path = join(dir, 'pre.bin');
    const head = pattern(100, 4);
    writeInPieces(path, head, 1);
    truncateSync(path, 100 + 3 * MiB);
    preallocate(path, 100, 3 * MiB);
    expect(statSync(path).size).toBe(100 + 3 * MiB);
    const back = readFileSync(path);
    expect(Buffer.compare(back.subarray(0, 100), head)).toBe(0);
    expect(back.subarray(100).every((b) => b === 0)).toBe(true);
    preallocate(path, 0, 0);
  });
});

const addon = nativeKernel() as unknown as Partial<NativeWritebackExports> | null;

describe.runIf(addon !== null && process.platform === 'linux')('native writeback calls', () => {
  const k = addon as NativeWritebackExports;

  it('succeed (0) on a regular file', () => {
    const path = join(dir, 'n.bin');
    writeInPieces(path, pattern(2 * MiB, 5), 2);
    const fd = openSync(path, 'r+');
    try {
      expect(k.startWriteback(fd, 0, MiB)).toBe(0);
      expect(k.dropCached(fd, 0, 2 * MiB)).toBe(0);
      expect(k.preallocate(fd, 0, 2 * MiB)).toBe(0);
    } finally {
      closeSync(fd);
    }
    expect(Buffer.compare(readFileSync(path), pattern(2 * MiB, 5))).toBe(0);
  });

  it('return an errno value, not throw, for a bad descriptor', () => {
    expect(k.startWriteback(1 << 30, 0, 1)).toBeGreaterThan(0);
    expect(k.dropCached(1 << 30, 0, 1)).toBeGreaterThan(0);
    expect(k.preallocate(1 << 30, 0, 1)).toBeGreaterThan(0);
  });

  it('throw a RangeError for arguments that are not non-negative integers', () => {
    expect(() => k.startWriteback(-1, 0, 1)).toThrow(RangeError);
    expect(() => k.dropCached(0, -1, 1)).toThrow(RangeError);
    expect(() => (k.preallocate as (...a: unknown[]) => number)(0, 0)).toThrow(RangeError);
  });
});
