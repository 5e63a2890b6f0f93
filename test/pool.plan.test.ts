import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OptionError } from '../src/errors.js';
import { DEFAULT_CHUNK_BYTES, planChunks, type RowRange } from '../src/pool/plan.js';

/** Checks the invariants every plan must satisfy: contiguous, in order, covering [0, rows), no empty chunk. */
function expectTiling(chunks: RowRange[], rows: number): void {
  let next = 0;
  for (const c of chunks) {
    expect(c.start).toBe(next);
    expect(c.end).toBeGreaterThan(c.start);
    next = c.end;
  }
  expect(next).toBe(rows);
}

describe('planChunks', () => {
  it('gives no chunk for zero rows', () => {
    expect(planChunks(0, 100, { threads: 2 })).toEqual([]);
    expect(planChunks(0, 100, { threads: 2, chunkRows: 3 })).toEqual([]);
  });

  it('gives one chunk for a single row (a 0-d tensor is one row)', () => {
    expect(planChunks(1, 8, { threads: 4 })).toEqual([{ start: 0, end: 1 }]);
  });

  it('forces chunkRows, with a shorter last chunk', () => {
    expect(planChunks(10, 8, { threads: 2, chunkRows: 4 })).toEqual([
      { start: 0, end: 4 },
      { start: 4, end: 8 },
      { start: 8, end: 10 },
    ]);
    expect(planChunks(3, 8, { threads: 2, chunkRows: 100 })).toEqual([{ start: 0, end: 3 }]);
  });

  it('sizes chunks from the byte budget and never below one row', () => {
    // 100 rows of 1 KiB with a 10 KiB budget: 10 chunks of 10 rows (already a multiple of 2 threads).
    const chunks = planChunks(100, 1024, { threads: 2, chunkBytes: 10 * 1024 });
    expect(chunks).toHaveLength(10);
    expect(chunks.every((c) => c.end - c.start === 10)).toBe(true);
    // A row larger than the budget still makes a chunk of one row.
    expect(planChunks(3, 1e9, { threads: 1, chunkBytes: 1024 })).toEqual([
      { start: 0, end: 1 },
      { start: 1, end: 2 },
      { start: 2, end: 3 },
    ]);
  });

  it('rounds the chunk count up to a multiple of the threads, rows spread evenly', () => {
    // One 4 MiB chunk would do; 3 threads get 3 chunks of 33 or 34 rows.
    const chunks = planChunks(100, 8, { threads: 3 });
    expect(chunks).toEqual([
      { start: 0, end: 34 },
      { start: 34, end: 67 },
      { start: 67, end: 100 },
    ]);
    // Never more chunks than rows.
    expect(planChunks(2, 8, { threads: 8 })).toHaveLength(2);
  });

  it('defaults to a budget of a few MiB', () => {
    expect(DEFAULT_CHUNK_BYTES).toBeGreaterThanOrEqual(1 << 20);
    expect(DEFAULT_CHUNK_BYTES).toBeLessThanOrEqual(16 << 20);
    // 8192 rows of 2048 float64 × (8 inputs + 1 output) = 147 456 B per row.
    const rowBytes = 2048 * 8 * 9;
    const chunks = planChunks(8192, rowBytes, { threads: 2 });
    expect(chunks.length % 2).toBe(0);
    const maxRows = Math.max(...chunks.map((c) => c.end - c.start));
    expect((maxRows - 1) * rowBytes).toBeLessThanOrEqual(DEFAULT_CHUNK_BYTES);
  });

  it('tiles [0, rows) for any rows, row size, budget and thread count', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 0, max: 1 << 20 }),
        fc.integer({ min: 1, max: 1 << 24 }),
        fc.integer({ min: 1, max: 16 }),
        fc.option(fc.integer({ min: 1, max: 600 }), { nil: undefined }),
        (rows, rowBytes, chunkBytes, threads, chunkRows) => {
          const chunks = planChunks(rows, rowBytes, { threads, chunkBytes, chunkRows });
          expectTiling(chunks, rows);
          if (chunkRows !== undefined) {
            expect(chunks.slice(0, -1).every((c) => c.end - c.start === chunkRows)).toBe(true);
          } else if (rows > 0) {
            const sizes = chunks.map((c) => c.end - c.start);
            expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
            expect(chunks.length % threads === 0 || chunks.length === rows).toBe(true);
          }
        },
      ),
    );
  });

  it('rejects bad arguments with OptionError naming them', () => {
    expect(() => planChunks(-1, 8, { threads: 1 })).toThrow(/`rows`/);
    expect(() => planChunks(1.5, 8, { threads: 1 })).toThrow(OptionError);
    expect(() => planChunks(4, Number.NaN, { threads: 1 })).toThrow(/`rowBytes`/);
    expect(() => planChunks(4, 8, { threads: 0 })).toThrow(
      'Expected `threads` to be an integer from 1 and up, got `0` (number)',
    );
    expect(() => planChunks(4, 8, { threads: 1, chunkRows: 0 })).toThrow(/`chunkRows`/);
    expect(() => planChunks(4, 8, { threads: 1, chunkRows: 2.5 })).toThrow(/`chunkRows`/);
    expect(() => planChunks(4, 8, { threads: 1, chunkBytes: 0 })).toThrow(/`chunkBytes`/);
  });
});
