import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { meanFusion, type Tensor, tensor } from '../src/index.js';
import { meanRange } from '../src/kernels/mean-range.js';
import type { MeanKernelParams } from '../src/kernels/params.js';
import { meanRangeScalar } from '../src/kernels/scalar.js';
import { meanRangeSimd } from '../src/kernels/simd.js';
import { DTYPE_CTORS, type DType } from '../src/tensor/dtype.js';
import {
  exactMean,
  exactMeanRounded,
  ratToFloat64,
  toScaled,
  ulpDistance64,
} from './reference/exact-mean.js';

const INT_RANGES: Partial<Record<DType, [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
};

/** Values of one dtype, with NaN / ±inf / −0 sprinkled in for the float dtypes. */
function valueOf(dtype: DType): fc.Arbitrary<number> {
  if (dtype === 'float64') return fc.double();
  if (dtype === 'float32') return fc.float();
  const [min, max] = INT_RANGES[dtype] as [number, number];
  return fc.integer({ min, max });
}

const shapeArb = fc
  .array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 4 })
  .filter((s) => s.reduce((a, b) => a * b, 1) <= 48);

interface Job {
  shape: number[];
  inputs: Tensor[];
  weights: number[] | undefined;
  nan: 'propagate' | 'omit';
  dtype: 'float32' | 'float64' | undefined;
}

/** Weights of ordinary magnitude (or zero): float64 products of subnormal weights underflow, by IEEE rules. */
const weightArb = fc.oneof(
  fc.constant(0),
  fc
    .tuple(fc.double({ min: 2 ** -30, max: 1e3, noNaN: true }), fc.boolean())
    .map(([m, neg]) => (neg ? -m : m)),
);

const dtypeArb = fc.constantFrom<DType>(
  'float64',
  'float32',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
);

const jobArb: fc.Arbitrary<Job> = fc
  .record({
    shape: shapeArb,
    k: fc.integer({ min: 1, max: 50 }),
    dtypes: fc.oneof(
      dtypeArb.map((d) => [d]), // one dtype for all inputs
      fc.array(dtypeArb, { minLength: 1, maxLength: 4 }), // mixed dtypes
    ),
    weighted: fc.boolean(),
    nan: fc.constantFrom<'propagate' | 'omit'>('propagate', 'omit'),
    dtype: fc.constantFrom<'float32' | 'float64' | undefined>(undefined, 'float32', 'float64'),
  })
  .chain(({ shape, k, dtypes, weighted, nan, dtype }) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const inputs = fc.tuple(
      ...Array.from({ length: k }, (_, j) => {
        const dt = dtypes[j % dtypes.length];
        return fc.array(valueOf(dt), { minLength: size, maxLength: size }).map((values) =>
          tensor(
            (new DTYPE_CTORS[dt](size) as Float64Array).map((_, i) => values[i]),
            shape,
          ),
        );
      }),
    );
    const weights = weighted
      ? fc.array(weightArb, { minLength: k, maxLength: k }).filter((w) => w.reduce((a, b) => a + b, 0) !== 0)
      : fc.constant(undefined);
    return fc.record({
      shape: fc.constant(shape),
      inputs,
      weights,
      nan: fc.constant(nan),
      dtype: fc.constant(dtype),
    });
  });

/**
 * The documented float32 guarantee: the float32 nearest the exact mean, unless the terms cancel by more than
 * 2^40 (Σ|wⱼxⱼ| > 2^40·|Σwⱼxⱼ|), where the compensated sum's own rounding allows an error of at most
 * k²·2^-104·Σ|wⱼxⱼ|/|Σwⱼ| plus one float32 rounding; and weighted products that underflow float64's normal
 * range round absolutely (at most 2^-1075 each, by IEEE rules).
 */
function checkFloat32(got: number, values: number[], w: number[] | null, omit: boolean, where: string): void {
  const want = exactMeanRounded(values, w, omit, 'float32');
  if (Object.is(got, want)) return;
  const exact = exactMean(values, w, omit);
  if (!('special' in exact)) {
    const kept = values.flatMap((x, j) =>
      omit && Number.isNaN(x) ? [] : [[(w?.[j] ?? 1) * 2 ** -100 * x, w?.[j] ?? 1]],
    );
    const k = kept.length;
    const absScaled = kept.reduce((a, [t]) => a + Math.abs(t), 0); // Σ|wx|·2^-100, cannot overflow
    const den = Math.abs(kept.reduce((a, [, wj]) => a + wj, 0));
    const mean = ratToFloat64(exact.p, exact.q);
    const heavy = absScaled * 2 ** 100 > 2 ** 40 * Math.abs(mean * den) || mean === 0;
    const a = Math.abs(want);
    const ulp32 = a >= 2 ** -126 && Number.isFinite(a) ? 2 ** (Math.floor(Math.log2(a)) - 23) : 2 ** -149;
    // Weighted products below float64's normal range round absolutely, by IEEE rules (≤ 2^-1075 each).
    const underflow = w === null ? 0 : (k / den) * 2 ** -1074;
    const bound =
      (heavy ? (k * k * 2 ** -4 * absScaled) / den + ulp32 : 0) + (underflow > 0 ? underflow + ulp32 : 0);
    if (bound > 0 && Math.abs(got - mean) <= bound) return;
  }
  throw new Error(`${where}: got ${got}, want ${want} for [${values}] w=${w}`);
}

describe('meanFusion against an exact BigInt reference', () => {
  it('float32 output is the float32 nearest the exact mean; float64 output is within the sequential-sum bound', () => {
    fc.assert(
      fc.property(jobArb, (job) => {
        const r = meanFusion(job.inputs, { weights: job.weights, nan: job.nan, dtype: job.dtype });
        expect(r.shape).toEqual(job.shape);
        const outDType =
          job.dtype ?? (job.inputs.every((t) => t.dtype === 'float32') ? 'float32' : 'float64');
        expect(r.dtype).toBe(outDType);
        const k = job.inputs.length;
        const w = job.weights ?? null;
        for (let i = 0; i < r.data.length; i++) {
          const values = job.inputs.map((t) => t.data[i]);
          const got = r.data[i];
          if (outDType === 'float32') {
            checkFloat32(got, values, w, job.nan === 'omit', `element ${i}`);
            continue;
          }
          const exact = exactMean(values, w, job.nan === 'omit');
          if ('special' in exact) {
            if (!Object.is(got, exact.special))
              throw new Error(`element ${i}: got ${got}, want ${exact.special}`);
            continue;
          }
          const want = exactMeanRounded(values, w, job.nan === 'omit', 'float64');
          if (Object.is(got, want)) continue;
          // Sequential summation bound: k ulps for the plain mean; weights add the product and Σw roundings.
          const kept = values.map((x, j) =>
            job.nan === 'omit' && Number.isNaN(x) ? null : (w?.[j] ?? 1) * x,
          );
          const terms = kept.filter((t): t is number => t !== null);
          const sameSign = terms.every((t) => t >= 0) || terms.every((t) => t <= 0);
          const den = Math.abs(
            (w ?? values.map(() => 1)).reduce((a, x, j) => (kept[j] === null ? a : a + x), 0),
          );
          // Products below the normal range round absolutely (≤ 2^-1075 each), and so does the quotient.
          const underflowSlack = (k / (2 * den)) * 2 ** -1074 + 2 ** -1074;
          const wsSameSign = w === null || w.every((x) => x > 0) || w.every((x) => x < 0);
          if (sameSign && wsSameSign && Number.isFinite(want)) {
            const bound = w === null ? k : k + 2;
            const d = ulpDistance64(got, want);
            if (d > bound && Math.abs(got - want) > underflowSlack) {
              throw new Error(`element ${i}: ${d} ulps > ${bound}: got ${got}, want ${want}`);
            }
          } else {
            // Mixed signs: absolute error within (k + 2)·u·Σ|wⱼxⱼ| / |Σwⱼ| (plus subnormal slack).
            const abs = terms.reduce((a, t) => a + Math.abs(t), 0);
            const bound = ((k + 2) * 2 ** -53 * abs) / den + underflowSlack;
            const err = Math.abs(got - want);
            if (!(err <= bound * 1.0001) && Number.isFinite(bound)) {
              throw new Error(`element ${i}: error ${err} > ${bound}: got ${got}, want ${want}`);
            }
          }
        }
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 300) },
    );
  });

  it('long rows (the SIMD path) give the float32 nearest the exact mean', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 64, max: 300 }),
        fc.integer({ min: 1, max: 12 }),
        fc.constantFrom<'float32' | 'float64'>('float32', 'float64'),
        (n, k, inDt) =>
          fc.assert(
            fc.property(
              fc.array(
                fc.array(inDt === 'float32' ? fc.float() : fc.double(), { minLength: n, maxLength: n }),
                {
                  minLength: k,
                  maxLength: k,
                },
              ),
              (rows) => {
                const Ctor = inDt === 'float32' ? Float32Array : Float64Array;
                const inputs = rows.map((r) => tensor(Ctor.from(r)));
                const r = meanFusion(inputs, { dtype: 'float32' });
                for (let i = 0; i < n; i++) {
                  checkFloat32(
                    r.data[i],
                    inputs.map((t) => t.data[i]),
                    null,
                    false,
                    `element ${i}`,
                  );
                }
              },
            ),
            { numRuns: 2 },
          ),
      ),
      { numRuns: 40 },
    );
  });

  it('scaled-sum sanity: the reference agrees with plain arithmetic on exactly representable sums', () => {
    expect(toScaled(0.75)).toBe(3n << 1072n);
  });
});

describe('kernel: chunking and path independence', () => {
  const arrays = (dt: 'float64' | 'float32', k: number, n: number) =>
    fc.array(
      fc
        .array(dt === 'float64' ? fc.double() : fc.float(), { minLength: n, maxLength: n })
        .map((v) => (dt === 'float64' ? Float64Array.from(v) : Float32Array.from(v))),
      { minLength: k, maxLength: k },
    );

  it('any split of the element range into pieces gives identical bits, SIMD and scalar agree', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<'float64' | 'float32'>('float64', 'float32'),
        fc.constantFrom<'float64' | 'float32'>('float64', 'float32'),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 300 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }),
        (inDt, outDt, k, n, cuts) =>
          fc.assert(
            fc.property(arrays(inDt, k, n), (xs) => {
              const params: MeanKernelParams = { weights: null, nanOmit: false };
              const Out = outDt === 'float64' ? Float64Array : Float32Array;
              const whole = new Out(n);
              meanRangeSimd(xs, whole, 0, n, params);
              const scalar = new Out(n);
              meanRangeScalar(xs, scalar, 0, n, params);
              const pieces = new Out(n);
              const points = [0, ...cuts.map((c) => Math.floor(c * n)).sort((a, b) => a - b), n];
              for (let p = 0; p + 1 < points.length; p++)
                meanRange(xs, pieces, points[p], points[p + 1], params);
              for (let i = 0; i < n; i++) {
                if (!Object.is(whole[i], scalar[i]) || !Object.is(whole[i], pieces[i])) {
                  throw new Error(`element ${i}: simd ${whole[i]}, scalar ${scalar[i]}, pieces ${pieces[i]}`);
                }
              }
            }),
            { numRuns: 3 },
          ),
      ),
      { numRuns: 60 },
    );
  });
});
