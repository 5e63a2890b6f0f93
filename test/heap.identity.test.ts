// Heap identity. A worker receives the heap's buffer as a new object with every task, so the heap is
// recognised by its contents; a SharedArrayBuffer copy of the heap's bytes (its header and random id
// included) must not pass for the heap: it is not in the heap, fusing it reads the copy's values (not the
// heap memory at the same address), and it shares no memory with heap tensors at the same byte offsets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OptionError } from '../src/errors.js';
import { meanFusion } from '../src/fusion/mean-fusion.js';
import { threadHeap } from '../src/kernels/heap/memory.js';
import { FusionPool } from '../src/pool/FusionPool.js';
import { allocate, disposeTensor, isInHeap } from '../src/tensor/alloc.js';
import type { TypedArray } from '../src/tensor/dtype.js';
import { type Tensor, tensor } from '../src/tensor/tensor.js';
import { lcg } from './reference/random.js';
import { expectSameBits, plainCopy } from './reference/same-bits.js';

const SHAPE = [64, 300];

/** Deterministic values on a 2^-24 grid and wide-range values. */
function fill(x: TypedArray, seed: number): void {
  const next = lcg(seed);
  for (let i = 0; i < x.length; i++) {
    const s = next();
    x[i] = s & 1 ? (s / 2 ** 32 - 0.5) * 2 ** ((s >>> 20) % 40) : ((s >>> 6) - 2 ** 25) * 2 ** -24;
  }
}

function heapTensor(dtype: 'float64' | 'float32', seed: number): Tensor {
  const t = allocate(dtype, SHAPE, { heap: true });
  fill(t.data, seed);
  return t;
}

/** `t`'s place in a copy of the heap's bytes up to `end`. */
function inCopy(copy: SharedArrayBuffer, t: Tensor): Tensor {
  const data =
    t.data instanceof Float32Array
      ? new Float32Array(copy, t.data.byteOffset, t.data.length)
      : new Float64Array(copy, t.data.byteOffset, t.data.length);
  return tensor(data, t.shape);
}

describe('a SharedArrayBuffer copy of the heap bytes is not the heap', () => {
  let pool: FusionPool;
  const owned: Tensor[] = [];
  /** Heap tensors, and the same places in a copy of the heap's bytes holding other values. */
  let t: Tensor;
  let u: Tensor;
  let b: Tensor;
  let out: Tensor;
  let tCopy: Tensor;
  let uCopy: Tensor;
  let copy: SharedArrayBuffer;

  beforeAll(() => {
    pool = new FusionPool({ threads: 2, inlineBytes: 0 });
    t = heapTensor('float64', 1);
    u = heapTensor('float32', 2);
    b = heapTensor('float64', 3);
    out = heapTensor('float64', 4);
    owned.push(t, u, b, out);
    const end = Math.max(...[t, u, b, out].map((x) => x.data.byteOffset + x.data.byteLength));
    // The buffer of the last allocation is the heap at its current size (older ones may be shorter).
    copy = (out.data.buffer as SharedArrayBuffer).slice(0, end);
    tCopy = inCopy(copy, t);
    uCopy = inCopy(copy, u);
    // The copy holds other values than the heap at the same addresses.
    fill(tCopy.data, 11);
    fill(uCopy.data, 12);
  });
  afterAll(async () => {
    await pool.close();
    for (const x of owned) disposeTensor(x);
  });

  it('isInHeap is false for the copy (header and heap id included) and true for the heap', () => {
    expect(copy).toBeInstanceOf(SharedArrayBuffer);
    expect(Array.from(new Int32Array(copy, 0, 4))).toEqual(Array.from(threadHeap().header.subarray(0, 4)));
    for (let i = 0; i < 3; i++) {
      expect(isInHeap(tCopy)).toBe(false);
      expect(isInHeap(uCopy)).toBe(false);
      expect(isInHeap(t)).toBe(true);
      expect(isInHeap(u)).toBe(true);
    }
    // A copy made with set() instead of slice() is not the heap either.
    const again = new SharedArrayBuffer(copy.byteLength);
    new Uint8Array(again).set(new Uint8Array(out.data.buffer, 0, copy.byteLength));
    expect(isInHeap(inCopy(again, t))).toBe(false);
  });

  it("meanFusion of the copy gives the copy's values, not those of the heap at the same addresses", () => {
    expectSameBits(meanFusion([tCopy, tCopy]), plainCopy(tCopy), 'mean(copy, copy)');
    expectSameBits(meanFusion([uCopy]), meanFusion([plainCopy(uCopy)]), 'mean(float32 copy)');
    for (const dtype of ['float64', 'float32'] as const) {
      const inputs = [tCopy, t, uCopy, u, b];
      expectSameBits(
        meanFusion(inputs, { dtype }),
        meanFusion(inputs.map(plainCopy), { dtype }),
        `mixed → ${dtype}`,
      );
    }
  });

  it("pool.fuse of the copy gives the copy's values in the workers too", async () => {
    for (const inputs of [
      [tCopy, tCopy],
      [tCopy, t, uCopy, u, b],
    ]) {
      const r = await pool.fuse(inputs, { chunkRows: 8 });
      expectSameBits(r, meanFusion(inputs.map(plainCopy)), `pool, k = ${inputs.length}`);
    }
  });

  it('an `out` in the heap and an input in the copy at the same address do not overlap (meanFusion and pool.fuse)', async () => {
    const want = meanFusion([plainCopy(tCopy), plainCopy(b)]);
    const outCopy = inCopy(copy, out);
    // In the heap: `t` itself, whose address the input `tCopy` has in the copy.
    const saved = plainCopy(t);
    expect(meanFusion([tCopy, b], { out: t })).toBe(t);
    expectSameBits(t, want, 'heap out = t, input at the same address in the copy');
    t.data.set(saved.data);
    expect(await pool.fuse([tCopy, b], { out: t, chunkRows: 8 })).toBe(t);
    expectSameBits(t, want, 'pool: heap out = t, input at the same address in the copy');
    t.data.set(saved.data);
    // The other way round: `out` in the copy, an input in the heap at the same address.
    const want2 = meanFusion([plainCopy(out), plainCopy(b)]);
    expect(meanFusion([out, b], { out: outCopy })).toBe(outCopy);
    expectSameBits(outCopy, want2, 'out in the copy, heap input at the same address');
    outCopy.data.fill(0);
    expect(await pool.fuse([out, b], { out: outCopy, chunkRows: 8 })).toBe(outCopy);
    expectSameBits(outCopy, want2, 'pool: out in the copy, heap input at the same address');
    // A real overlap is still refused, in the heap and in the copy.
    expect(() => meanFusion([t, b], { out: t })).toThrow(OptionError);
    expect(() => meanFusion([tCopy, b], { out: tCopy })).toThrow(OptionError);
    await expect(pool.fuse([tCopy, b], { out: tCopy })).rejects.toThrow(OptionError);
  });
});
