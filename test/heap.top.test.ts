// The kernel heap grown to its cap, 65535 pages (one page under 4 GiB): tensors whose range ends exactly at
// the top are read and written fully, with the bits of ordinary arrays (an i32 end address of 2^32 used to
// wrap to 0, so the last block of a float64 heap `out` was silently not written), by meanFusion and by a
// FusionPool (a 4 GiB buffer could not be sent to a worker: "Unable to deserialize cloned data"), and a
// tensor that no longer fits falls back to a plain SharedArrayBuffer.
//
// Its own file: the heap stays at its cap for the rest of this process. The filler that grows it is never
// written, so its pages are never faulted in (virtual memory only).
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meanFusion } from '../src/fusion/mean-fusion.js';
import { heapAllocatedBytes, threadHeap } from '../src/kernels/heap/memory.js';
import { HEAP_ALIGN } from '../src/kernels/heap/range-allocator.js';
import { FusionPool } from '../src/pool/FusionPool.js';
import { allocate, disposeTensor, isInHeap, isShared } from '../src/tensor/alloc.js';
import type { DType } from '../src/tensor/dtype.js';
import { type Tensor, tensor } from '../src/tensor/tensor.js';
import { expectSameBits, fillSprinkled, plainCopy } from './reference/same-bits.js';

const PROBE = fileURLToPath(new URL('./fixtures/workers/heap-probe.js', import.meta.url));

/** The cap: 65535 WebAssembly pages of 64 KiB. */
const CAP = 65535 * 65536;
type Float = 'float64' | 'float32';
/** Shapes of the tensors at the top: both fill a slot of 512 000 bytes (a multiple of HEAP_ALIGN). */
const TOP_SHAPE: Record<Float, number[]> = { float64: [64, 1000], float32: [128, 1000] };
const SLOT_BYTES = 64 * 1000 * 8;

/** Runs `f` on a heap tensor whose range ends exactly at the cap, then gives the slot back. */
async function withTop<R>(dtype: Float, f: (top: Tensor) => R | Promise<R>): Promise<R> {
  const top = allocate(dtype, TOP_SHAPE[dtype], { heap: true });
  try {
    expect(isInHeap(top)).toBe(true);
    expect(top.data.byteOffset + top.data.byteLength).toBe(CAP);
    expect(top.data.buffer.byteLength).toBe(CAP);
    return await f(top);
  } finally {
    expect(disposeTensor(top)).toBe(true);
  }
}

/** Heap tensors at the bottom of the heap (allocated before it grew), of each top shape. */
interface Bottom {
  x: Tensor;
  y: Tensor;
  out64: Tensor;
  out32: Tensor;
}

describe('the kernel heap at its cap (65535 pages, one under 4 GiB)', () => {
  let pool: FusionPool;
  const bottom = {} as Record<Float, Bottom>;
  let filler: Tensor;

  beforeAll(async () => {
    // Started before the growth: its threads attached to the heap while it was small.
    pool = new FusionPool({ threads: 2, inlineBytes: 0 });
    for (const [j, dtype] of (['float64', 'float32'] as const).entries()) {
      const shape = TOP_SHAPE[dtype];
      const x = allocate('float64', shape, { heap: true });
      const y = allocate('float32', shape, { heap: true });
      fillSprinkled(x.data, 10 * j + 1);
      fillSprinkled(y.data, 10 * j + 2);
      const out64 = allocate('float64', shape, { heap: true });
      const out32 = allocate('float32', shape, { heap: true });
      bottom[dtype] = { x, y, out64, out32 };
    }
    await pool.fuse([bottom.float64.x, bottom.float64.y], { chunkRows: 8 });
    expect(threadHeap().memory.buffer.byteLength).toBeLessThan(2 ** 28);
    // Nothing was freed in this process, so a 1-byte tensor lands at the allocator's top.
    const mark = allocate('uint8', [1], { heap: true });
    const top = mark.data.byteOffset + HEAP_ALIGN;
    // Everything up to SLOT_BYTES under the cap. Never written.
    filler = allocate('uint8', [CAP - top - SLOT_BYTES], { heap: true });
    expect(isInHeap(filler)).toBe(true);
    expect(filler.data.byteOffset).toBe(top);
  });
  afterAll(() => pool?.close());

  it('grows to exactly 65535 pages and no further', async () => {
    await withTop('float64', () => {
      const memory = threadHeap().memory;
      expect(memory.buffer.byteLength).toBe(CAP);
      expect(() => memory.grow(1)).toThrow(RangeError);
      expect(memory.buffer.byteLength).toBe(CAP);
    });
  });

  for (const dtype of ['float64', 'float32'] as const) {
    it(`meanFusion writes a ${dtype} heap \`out\` ending at the top fully, with the bits of ordinary arrays`, async () => {
      const { x, y } = bottom[dtype];
      const z = tensor(
        Float64Array.from(x.data, (v) => -v / 3),
        x.shape,
      );
      // k = 1, k = 3 (one group), k = 11 (a full group of 8, then 3), heap and ordinary inputs mixed.
      for (const xs of [
        [x],
        [x, y, z],
        Array.from({ length: 11 }, (_, j) => [x, y, z, plainCopy(y)][j % 4]),
      ]) {
        const want = meanFusion(xs.map(plainCopy), { dtype });
        await withTop(dtype, (out) => {
          out.data.fill(0.1);
          expect(meanFusion(xs, { out })).toBe(out);
          expectSameBits(out, want, `${dtype} out at the top, k = ${xs.length}`);
        });
      }
    });

    it(`meanFusion reads a ${dtype} heap input ending at the top in place, with the bits of ordinary arrays`, async () => {
      const { y, out64, out32 } = bottom[dtype];
      await withTop(dtype, (top) => {
        fillSprinkled(top.data, 5);
        const xs = [top, y, top];
        for (const out of [out64, out32]) {
          const want = meanFusion(xs.map(plainCopy), { dtype: out.dtype as Float });
          expectSameBits(
            meanFusion(xs, { dtype: out.dtype as Float }),
            want,
            `${dtype} input → new ${out.dtype}`,
          );
          out.data.fill(0.1);
          expect(meanFusion(xs, { out })).toBe(out);
          expectSameBits(out, want, `${dtype} input → heap ${out.dtype} out`);
        }
      });
    });

    it(`a FusionPool started before the growth fuses into and from a ${dtype} tensor at the top (chunks of 8 rows)`, async () => {
      const { x, y, out64, out32 } = bottom[dtype];
      await withTop(dtype, async (top) => {
        top.data.fill(Number.NaN);
        expect(await pool.fuse([x, y], { out: top, chunkRows: 8 })).toBe(top);
        expectSameBits(
          top,
          meanFusion([plainCopy(x), plainCopy(y)], { dtype }),
          `pool, ${dtype} out at the top`,
        );
        // The same tensor as an input of the next jobs.
        const copies = [plainCopy(top), plainCopy(x)];
        const r = await pool.fuse([top, x], { chunkRows: 8 });
        expect(isShared(r)).toBe(true);
        expectSameBits(r, meanFusion(copies), `pool, ${dtype} input at the top`);
        for (const out of [out64, out32]) {
          expect(await pool.fuse([top, x], { out, chunkRows: 8 })).toBe(out);
          expectSameBits(out, meanFusion(copies, { dtype: out.dtype as Float }), `pool → heap ${out.dtype}`);
        }
      });
    });
  }

  it('a FusionPool created after the growth (its workers get the heap at its cap) fuses heap tensors', async () => {
    const { x, y } = bottom.float64;
    const want = meanFusion([plainCopy(x), plainCopy(y)]);
    const late = new FusionPool({ threads: 2, inlineBytes: 0 });
    try {
      await withTop('float64', async (out) => {
        expect(await late.fuse([x, y], { out, chunkRows: 8 })).toBe(out);
        expectSameBits(out, want, 'new pool, float64 out at the top');
      });
      expectSameBits(await late.fuse([x, y], { chunkRows: 8 }), want, 'new pool, no out');
    } finally {
      await late.close();
    }
  });

  it('runTask sends a view on the heap at its cap to a worker, which finds it in the heap', async () => {
    await withTop('float64', async (top) => {
      fillSprinkled(top.data, 7);
      const last = top.data.subarray(top.data.length - 1000);
      const shared = allocate('float64', [10], { shared: true });
      const report = await pool.runTask<{ received: boolean; receivedFirst: number; shared: boolean }>(
        { received: last, shared: shared.data },
        { filename: PROBE },
      );
      expect(report.received).toBe(true);
      expect(Object.is(report.receivedFirst, last[0])).toBe(true);
      expect(report.shared).toBe(false);
    });
  });

  it('a tensor that does not fit under the cap falls back to a plain SharedArrayBuffer', async () => {
    const before = heapAllocatedBytes();
    await withTop('float64', () => {
      // The heap is full up to its cap, except for holes left by tensors of earlier tests that the
      // garbage collector may have freed: a tensor larger than all of them together cannot fit.
      const free = CAP - heapAllocatedBytes();
      for (const [dtype, shape] of [
        ['uint8', [free + 1]],
        ['float32', [Math.ceil((free + 1) / 4)]],
        ['float64', [Math.ceil((free + 1) / 8)]],
      ] as Array<[DType, number[]]>) {
        const t = allocate(dtype, shape, { heap: true });
        expect(isInHeap(t)).toBe(false);
        expect(t.data.buffer).toBeInstanceOf(SharedArrayBuffer);
        expect(t.data.byteOffset).toBe(0);
        expect(t.data.buffer.byteLength).toBe(t.data.byteLength);
        expect(t.data.every((v) => v === 0)).toBe(true);
        expect(disposeTensor(t)).toBe(false);
      }
    });
    // With the slot free again: exactly its size fits, one byte more does not.
    const over = allocate('uint8', [SLOT_BYTES + 1], { heap: true });
    expect(isInHeap(over)).toBe(false);
    expect(over.data.buffer).toBeInstanceOf(SharedArrayBuffer);
    const exact = allocate('uint8', [SLOT_BYTES], { heap: true });
    expect(isInHeap(exact)).toBe(true);
    expect(exact.data.byteOffset + exact.data.byteLength).toBe(CAP);
    expect(disposeTensor(exact)).toBe(true);
    expect(heapAllocatedBytes()).toBe(before);
  });

  it('never touched the filler: the resident set stays far below the heap size', () => {
    expect(isInHeap(filler)).toBe(true);
    expect(process.memoryUsage().rss).toBeLessThan(1024 * 1024 * 1024);
  });
});
