// The kernel heap on the main thread: heap tensors (zero-filled, shared, disposable, valid across growth),
// the SIMD kernel reading and writing them in place (bitwise the scalar kernel, for any mix of ordinary
// arrays, heap tensors and odd-offset heap views), scratch exhaustion, and meanFusion's heap results.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { threadId } from 'node:worker_threads';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  allocate,
  DTYPES,
  type DType,
  disposeTensor,
  isInHeap,
  meanFusion,
  type NumberDType,
  OptionError,
  type Tensor,
  tensor,
  toShared,
} from '../src/index.js';
import { heapAllocatedBytes, threadHeap } from '../src/kernels/heap/memory.js';
import { HEAP_ALIGN } from '../src/kernels/heap/range-allocator.js';
import { claimScratch, releaseScratch, SCRATCH_REGIONS } from '../src/kernels/heap/scratch.js';
import { meanRange } from '../src/kernels/mean-range.js';
import type { MeanKernelParams } from '../src/kernels/params.js';
import { meanRangeScalar } from '../src/kernels/scalar.js';
import { meanRangeSimd } from '../src/kernels/simd.js';
import { DTYPE_CTORS, type FloatArray, type TypedArray } from '../src/tensor/dtype.js';

const PLAIN: MeanKernelParams = { weights: null, nanOmit: false };

/** Deterministic PRNG (mulberry32): values of long arrays come from a seed, the structure from fast-check. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SPECIALS = [
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  -0,
  0,
  1e308,
  -1e308,
  Number.MAX_VALUE,
  5e-324,
  -1e-310,
  3.4028234663852886e38, // float32's largest
  1.401298464324817e-45, // float32's smallest subnormal
];

const INT_RANGES: Partial<Record<DType, [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
};

/**
 * Fills `x` with random values of its dtype: for floats a mix of wide-range values, values on a 2^-24 grid
 * (whose means often fall on float32 rounding midpoints), and specials (NaN, ±inf, −0, 1e308, subnormals)
 * at rate `sprinkle`.
 */
function fill(x: TypedArray, dtype: DType, rand: () => number, sprinkle: number): void {
  const range = INT_RANGES[dtype];
  for (let i = 0; i < x.length; i++) {
    if (range !== undefined) {
      x[i] = range[0] + Math.floor(rand() * (range[1] - range[0] + 1));
      continue;
    }
    const r = rand();
    let v: number;
    if (r < sprinkle) v = SPECIALS[Math.floor(rand() * SPECIALS.length)];
    else if (r < 0.5) v = (rand() * 2 - 1) * 2 ** Math.floor(rand() * 80 - 40);
    else v = (Math.floor(rand() * 2 ** 26) - 2 ** 25) * 2 ** -24;
    x[i] = v;
  }
}

type Place = 'plain' | 'heap' | 'view';

/** An array of `n` elements placed as asked; `parents` collects heap tensors to dispose afterwards. */
function place(dtype: NumberDType, n: number, where: Place, offset: number, parents: Tensor[]): TypedArray {
  if (where === 'plain') return new DTYPE_CTORS[dtype](n) as TypedArray;
  if (where === 'heap') {
    const t = allocate(dtype, [n], { heap: true });
    parents.push(t);
    return t.data;
  }
  const t = allocate(dtype, [offset + n + 3], { heap: true });
  parents.push(t);
  return t.data.subarray(offset, offset + n);
}

function sameBits(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) throw new Error(`${what}: element ${i}: got ${got[i]}, want ${want[i]}`);
  }
}

/** A copy of the bytes of `x`. */
function bytesOf(x: TypedArray): Buffer {
  return Buffer.from(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
}

/** True when `x` holds exactly `bytes`. */
function holds(x: TypedArray, bytes: Buffer): boolean {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(bytes);
}

describe('allocate(…, { heap: true })', () => {
  it('gives a zero-filled tensor in the heap for every dtype, on a SharedArrayBuffer, aligned', () => {
    for (const dtype of DTYPES) {
      for (const shape of [[], [0], [7], [3, 5], [2, 3, 65]]) {
        const t = allocate(dtype, shape, { heap: true });
        expect(t.dtype).toBe(dtype);
        expect(t.shape).toEqual(shape);
        expect(t.data).toBeInstanceOf(DTYPE_CTORS[dtype]);
        expect(t.data.length).toBe(shape.reduce((a, b) => a * b, 1));
        expect(t.data.buffer).toBeInstanceOf(SharedArrayBuffer);
        expect(t.data.byteOffset % HEAP_ALIGN).toBe(0);
        expect(isInHeap(t)).toBe(true);
        expect(t.data.every((v: number | bigint) => Object.is(v, 0) || v === 0n)).toBe(true);
        expect(disposeTensor(t)).toBe(true);
      }
    }
  });

  it('ordinary and shared tensors are not in the heap', () => {
    expect(isInHeap(allocate('float64', [4]))).toBe(false);
    expect(isInHeap(allocate('float64', [4], { shared: true }))).toBe(false);
    // A shared buffer as large as the heap's header, whose first words are not the heap id.
    expect(isInHeap(allocate('float64', [65536], { shared: true }))).toBe(false);
  });

  it('memory given back with disposeTensor is zero again when allocated anew, for every dtype', () => {
    for (const dtype of DTYPES) {
      const before = heapAllocatedBytes();
      const a = allocate(dtype, [1000], { heap: true });
      const fence = allocate(dtype, [10], { heap: true }); // so `a` is freed below the top
      expect(heapAllocatedBytes()).toBeGreaterThan(before);
      new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength).fill(0xa5);
      const at = a.data.byteOffset;
      expect(disposeTensor(a)).toBe(true);
      const b = allocate(dtype, [1000], { heap: true });
      expect(b.data.byteOffset).toBe(at); // the same memory, reused first-fit
      expect(b.data.every((v: number | bigint) => Object.is(v, 0) || v === 0n)).toBe(true);
      // At the top: the freed range lowers the top, and a larger tensor takes it plus fresh memory.
      new Uint8Array(fence.data.buffer, fence.data.byteOffset, fence.data.byteLength).fill(0xff);
      new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength).fill(0x5a);
      const fenceAt = fence.data.byteOffset;
      expect(disposeTensor(fence)).toBe(true);
      const c = allocate(dtype, [5000], { heap: true });
      expect(c.data.byteOffset).toBe(fenceAt);
      expect(c.data.every((v: number | bigint) => Object.is(v, 0) || v === 0n)).toBe(true);
      expect(disposeTensor(b)).toBe(true);
      expect(disposeTensor(c)).toBe(true);
      expect(heapAllocatedBytes()).toBe(before);
    }
  });

  it('disposeTensor returns false for a tensor not in the heap, a second time, and for a view', () => {
    expect(disposeTensor(allocate('float64', [4]))).toBe(false);
    expect(disposeTensor(allocate('float32', [4], { shared: true }))).toBe(false);
    const t = allocate('float64', [8], { heap: true });
    expect(disposeTensor(tensor(t.data.subarray(2, 6)))).toBe(false);
    expect(disposeTensor(tensor(t.data.subarray(0)))).toBe(false);
    expect(disposeTensor(t)).toBe(true);
    expect(disposeTensor(t)).toBe(false);
  });

  it("gives a dropped heap tensor's memory back at garbage collection (views of it do not keep it)", () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const script = `
      import { allocate } from ${JSON.stringify(`${root}dist/src/index.js`)};
      import { heapAllocatedBytes } from ${JSON.stringify(`${root}dist/src/kernels/heap/memory.js`)};
      const keep = allocate('float64', [10], { heap: true });
      const base = heapAllocatedBytes();
      let t = allocate('float64', [1000], { heap: true });
      const view = t.data.subarray(0, 10);
      const during = heapAllocatedBytes();
      t = undefined;
      for (let i = 0; i < 50 && heapAllocatedBytes() !== base; i++) {
        globalThis.gc();
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      console.log(JSON.stringify({ base, during, after: heapAllocatedBytes(), kept: keep.data.length + view.length }));
    `;
    const run = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ base: 128, during: 8128, after: 128, kept: 20 });
  });

  it('tensors allocated before the heap grows keep their values and stay recognised after it grows', () => {
    const n = 1001;
    const old = (['float64', 'float32', 'int16', 'uint8'] as const).map((dtype, j) => {
      const t = allocate(dtype, [n], { heap: true });
      fill(t.data, dtype, prng(11 + j), 0.05);
      return { t, bytes: bytesOf(t.data), buffer: t.data.buffer };
    });
    // Runs the SIMD kernel once before growth, so its instance predates the growth.
    const warm = allocate('float64', [n], { heap: true });
    expect(meanRangeSimd([old[0].t.data], warm.data as FloatArray, 0, n, PLAIN)).toBe(true);
    const size = threadHeap().memory.buffer.byteLength;
    const big = allocate('float64', [8 * 1024 * 1024], { heap: true }); // 64 MiB
    try {
      expect(threadHeap().memory.buffer.byteLength).toBeGreaterThan(size);
      expect(isInHeap(big)).toBe(true);
      expect(big.data.buffer).not.toBe(old[0].buffer);
      for (const { t, bytes, buffer } of old) {
        expect(t.data.buffer).toBe(buffer);
        expect(isInHeap(t)).toBe(true);
        expect(holds(t.data, bytes)).toBe(true);
        // The same memory seen through the grown buffer.
        const Ctor = DTYPE_CTORS[t.dtype];
        sameBits(
          new Ctor(big.data.buffer, t.data.byteOffset, n) as TypedArray,
          t.data,
          `${t.dtype} via grown buffer`,
        );
      }
      // The kernel reads the old tensors in place and writes the result at the far end of the grown heap.
      const inputs = old.map(({ t }) => t.data);
      const far = big.data.subarray(big.data.length - n) as FloatArray;
      expect(meanRangeSimd(inputs, far, 0, n, PLAIN)).toBe(true);
      const want = new Float64Array(n);
      meanRangeScalar(
        inputs.map((x) => x.slice()),
        want,
        0,
        n,
        PLAIN,
      );
      sameBits(far, want, 'after growth');
      // A fusion of old and new heap tensors into a heap `out` allocated after the growth.
      const fresh = allocate('float64', [n], { heap: true });
      fresh.data.set(want);
      const out = allocate('float32', [n], { heap: true });
      expect(meanFusion([old[1].t, fresh], { out })).toBe(out);
      sameBits(
        out.data,
        meanFusion([tensor(old[1].t.data.slice()), tensor(want.slice())], { dtype: 'float32' }).data,
        'fusion',
      );
      disposeTensor(fresh);
      disposeTensor(out);
    } finally {
      disposeTensor(big);
      disposeTensor(warm);
      for (const { t } of old) disposeTensor(t);
    }
  });
});

const INPUT_DTYPES = ['float64', 'float32', 'int16', 'uint8', 'int8', 'uint16', 'int32', 'uint32'] as const;

const caseArb = fc
  .record({
    n: fc.oneof(
      fc.integer({ min: 1, max: 100 }),
      fc.integer({ min: 1, max: 10_000 }),
      fc.constantFrom(4093, 4095, 4096, 4097, 4099, 8191, 8192, 8195),
    ),
    k: fc.integer({ min: 1, max: 20 }),
    seed: fc.integer(),
    sprinkle: fc.constantFrom(0, 0.001, 0.02, 0.2),
    outDtype: fc.constantFrom<'float32' | 'float64'>('float32', 'float64'),
    outPlace: fc.constantFrom<Place>('plain', 'heap', 'view'),
    outOffset: fc.integer({ min: 0, max: 31 }).map((h) => 2 * h + 1),
    range: fc.option(
      fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
      {
        nil: undefined,
      },
    ),
  })
  .chain((c) =>
    fc.record({
      c: fc.constant(c),
      inputs: fc.array(
        fc.record({
          dtype: fc.oneof(
            { arbitrary: fc.constantFrom<NumberDType>('float64', 'float32'), weight: 3 },
            { arbitrary: fc.constantFrom<NumberDType>(...INPUT_DTYPES), weight: 2 },
          ),
          place: fc.constantFrom<Place>('plain', 'heap', 'view'),
          offset: fc.integer({ min: 0, max: 31 }).map((h) => 2 * h + 1),
        }),
        { minLength: c.k, maxLength: c.k },
      ),
    }),
  );

describe('SIMD kernel over heap tensors', () => {
  it('meanRange / meanRangeSimd equal the scalar kernel bitwise for any mix of ordinary, heap and odd-offset view inputs and outputs', () => {
    fc.assert(
      fc.property(caseArb, ({ c, inputs: specs }) => {
        const before = heapAllocatedBytes();
        const parents: Tensor[] = [];
        try {
          const rand = prng(c.seed);
          const inputs = specs.map((s) => {
            const x = place(s.dtype, c.n, s.place, s.offset, parents);
            fill(x, s.dtype, rand, c.sprinkle);
            return x;
          });
          const copies = inputs.map((x) => x.slice());
          let start = 0;
          let end = c.n;
          if (c.range !== undefined) {
            const [p, q] = c.range.map((u) => Math.floor(u * c.n)).sort((a, b) => a - b);
            start = p;
            end = q;
          }
          const Out = c.outDtype === 'float64' ? Float64Array : Float32Array;
          const sentinel = 0.1;
          const want = new Out(c.n).fill(sentinel);
          meanRangeScalar(copies, want, start, end, PLAIN);
          const where = `n=${c.n} k=${c.k} [${start}, ${end}) out=${c.outDtype}/${c.outPlace} inputs=${specs
            .map((s) => `${s.dtype}/${s.place}`)
            .join(',')}`;

          const simdOut = place(c.outDtype, c.n, c.outPlace, c.outOffset, parents) as FloatArray;
          simdOut.fill(sentinel);
          expect(meanRangeSimd(inputs, simdOut, start, end, PLAIN)).toBe(true);
          sameBits(simdOut, want, `meanRangeSimd ${where}`);

          const out = place(c.outDtype, c.n, c.outPlace, c.outOffset, parents) as FloatArray;
          out.fill(sentinel);
          meanRange(inputs, out, start, end, PLAIN);
          sameBits(out, want, `meanRange ${where}`);

          // The inputs were only read.
          for (let j = 0; j < inputs.length; j++) {
            if (!holds(inputs[j], bytesOf(copies[j]))) throw new Error(`input ${j} was written: ${where}`);
          }
        } finally {
          for (const t of parents) expect(disposeTensor(t)).toBe(true);
        }
        expect(heapAllocatedBytes()).toBe(before);
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 250) },
    );
  });

  it('with every scratch region claimed, meanRangeSimd declines and writes nothing; meanRange still gives the scalar bits', () => {
    const n = 1000;
    const a = allocate('float64', [n], { heap: true });
    const b = allocate('float32', [n], { heap: true });
    const c = new Int16Array(n);
    const rand = prng(7);
    fill(a.data, 'float64', rand, 0.05);
    fill(b.data, 'float32', rand, 0.05);
    fill(c, 'int16', rand, 0);
    const inputs = [a.data, b.data, c];
    const header = threadHeap().header;
    const claimed: number[] = [];
    try {
      for (let r = 0; r < SCRATCH_REGIONS; r++) {
        const region = claimScratch(header, threadId);
        expect(region).toBeGreaterThanOrEqual(0);
        claimed.push(region);
      }
      expect(new Set(claimed).size).toBe(SCRATCH_REGIONS);
      expect(claimScratch(header, threadId)).toBe(-1);
      for (const Out of [Float64Array, Float32Array]) {
        const want = new Out(n);
        meanRangeScalar(inputs, want, 0, n, PLAIN);
        const heapOut = allocate(Out === Float64Array ? 'float64' : 'float32', [n], { heap: true });
        for (const out of [new Out(n), heapOut.data as FloatArray]) {
          out.fill(-3);
          expect(meanRangeSimd(inputs, out, 0, n, PLAIN)).toBe(false);
          expect(out.every((v) => v === -3)).toBe(true);
          meanRange(inputs, out, 0, n, PLAIN);
          sameBits(out, want, `fallback ${Out.name}`);
        }
        disposeTensor(heapOut);
      }
    } finally {
      for (const region of claimed) releaseScratch(header, region);
      disposeTensor(a);
      disposeTensor(b);
    }
    // Released: the SIMD path runs again.
    const out = new Float64Array(n);
    expect(meanRangeSimd([new Float64Array(n).fill(2)], out, 0, n, PLAIN)).toBe(true);
    expect(out.every((v) => v === 2)).toBe(true);
  });
});

describe('meanFusion and the heap', () => {
  function heapTensor(dtype: NumberDType, shape: number[], seed: number): Tensor {
    const t = allocate(dtype, shape, { heap: true });
    fill(t.data, dtype, prng(seed), 0.01);
    return t;
  }
  /** An ordinary copy (the independent path). */
  const plain = (t: Tensor): Tensor => tensor(t.data.slice(), t.shape);

  it('returns an ordinary tensor for heap inputs (views included), with the bits of ordinary arrays', () => {
    // A new result is never placed in the heap (README: the garbage collector does not see heap memory).
    for (const dtypes of [
      ['float64'],
      ['float32', 'float32'],
      ['float32', 'int16', 'float64', 'uint8'],
    ] as const) {
      const inputs = dtypes.map((d, j) => heapTensor(d, [37, 29], 100 + j));
      const parent = heapTensor('float64', [37 * 29 + 2], 99);
      inputs.push(tensor(parent.data.subarray(1, 1 + 37 * 29), [37, 29])); // odd-offset view
      for (const t of inputs) expect(isInHeap(t)).toBe(true);
      const r = meanFusion(inputs);
      expect(isInHeap(r)).toBe(false);
      expect(r.data.buffer).not.toBeInstanceOf(SharedArrayBuffer);
      sameBits(r.data, meanFusion(inputs.map(plain)).data, `fusion of ${dtypes}`);
      for (const dtype of ['float32', 'float64'] as const) {
        const r2 = meanFusion(inputs, { dtype });
        expect(isInHeap(r2)).toBe(false);
        sameBits(r2.data, meanFusion(inputs.map(plain), { dtype }).data, `fusion to ${dtype}`);
      }
    }
  });

  it('returns an ordinary tensor when one input is not in the heap (ordinary or shared)', () => {
    const a = heapTensor('float64', [300], 1);
    const b = heapTensor('float32', [300], 2);
    for (const other of [plain(b), toShared(b)]) {
      const r = meanFusion([a, other, b]);
      expect(isInHeap(r)).toBe(false);
      expect(r.data.buffer).not.toBeInstanceOf(SharedArrayBuffer);
      sameBits(r.data, meanFusion([plain(a), plain(b), plain(b)]).data, 'mixed');
    }
  });

  it('writes into a heap `out` (float64 in place, float32, odd-offset view) with the bits of ordinary arrays', () => {
    const inputs = [
      heapTensor('float64', [5000], 3),
      heapTensor('float32', [5000], 4),
      heapTensor('float64', [5000], 5),
    ];
    for (const dtype of ['float64', 'float32'] as const) {
      const want = meanFusion(inputs.map(plain), { dtype });
      const out = allocate(dtype, [5000], { heap: true });
      expect(meanFusion(inputs, { out })).toBe(out);
      sameBits(out.data, want.data, `heap out ${dtype}`);
      const parent = allocate(dtype, [5003], { heap: true });
      const view = tensor(parent.data.subarray(3, 5003), [5000]);
      expect(meanFusion(inputs, { out: view })).toBe(view);
      sameBits(view.data, want.data, `heap view out ${dtype}`);
    }
  });

  it('accepts an `out` that shares the heap buffer with the inputs but not their memory', () => {
    const big = heapTensor('float64', [3000], 6);
    const a = tensor(big.data.subarray(0, 1000));
    const b = tensor(big.data.subarray(1000, 2000));
    const out = tensor(big.data.subarray(2000, 3000));
    const want = meanFusion([plain(a), plain(b)]);
    expect(meanFusion([a, b], { out })).toBe(out);
    sameBits(out.data, want.data, 'adjacent out');
  });

  it('rejects an `out` that overlaps an input in the heap, as for ordinary buffers', () => {
    const big = heapTensor('float64', [3000], 7);
    const a = tensor(big.data.subarray(0, 1000));
    const b = heapTensor('float64', [1000], 8);
    for (const out of [a, tensor(big.data.subarray(999, 1999)), tensor(big.data.subarray(500, 1500))]) {
      expect(() => meanFusion([a, b], { out })).toThrow(OptionError);
      expect(() => meanFusion([b, a], { out })).toThrow(/must not share memory with an input/);
    }
    // The same check for ordinary buffers, for comparison.
    const ordinary = new Float64Array(3000);
    expect(() =>
      meanFusion([tensor(ordinary.subarray(0, 1000)), plain(b)], {
        out: tensor(ordinary.subarray(500, 1500)),
      }),
    ).toThrow(OptionError);
  });

  it('rejects an `out` that overlaps a heap input through a heap buffer object obtained after the heap grew', () => {
    // Every heap tensor's `data.buffer` is the whole heap, but tensors allocated after a growth hold a newer
    // buffer object. A view built on the newer buffer at an older tensor's byteOffset is that tensor's memory.
    const n = 1000;
    const parent = heapTensor('float64', [2 * n], 9);
    const a = tensor(parent.data.subarray(0, n));
    const b = tensor(parent.data.subarray(n, 2 * n));
    const size = threadHeap().memory.buffer.byteLength;
    // As many bytes as the heap holds: it must grow (the new pages are never touched, so this costs little).
    const big = allocate('uint8', [size], { heap: true });
    try {
      expect(threadHeap().memory.buffer.byteLength).toBeGreaterThan(size);
      expect(big.data.buffer).not.toBe(parent.data.buffer);
      // The second half of `a` and the first half of `b`, seen through the newer buffer object.
      const out = tensor(new Float64Array(big.data.buffer, parent.data.byteOffset + (n / 2) * 8, n));
      expect(isInHeap(out)).toBe(true);
      const want = meanFusion([plain(a), plain(b)]);
      let thrown: unknown;
      try {
        meanFusion([a, b], { out });
      } catch (error) {
        thrown = error;
      }
      const wrong = out.data.findIndex((v, i) => !Object.is(v, want.data[i]));
      expect(
        thrown,
        `accepted an overlapping out${wrong >= 0 ? ` and wrote a wrong result (element ${wrong}: ${out.data[wrong]}, want ${want.data[wrong]})` : ''}`,
      ).toBeInstanceOf(OptionError);
    } finally {
      disposeTensor(big);
    }
  });
});
