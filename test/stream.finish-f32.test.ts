// The float32 finish of a running state (s, c) by a count k: the native one-pass finish (native/accumulate.h
// finish_comp, which multiplies by 1/k and hands every lane near a float32 midpoint to the exact path) and
// the JavaScript loop of the fallback, on states built to sit within a few hundred float64 ulps of float32
// midpoints, against the exact rational (s + c) / k rounded to float32 (test/reference/exact-mean.ts).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { roundQuotientToFloat32 } from '../src/kernels/exact.js';
import { nativeKernel } from '../src/kernels/native.js';
import { accumulateFinishNative, finishNativeF32, nativeStream } from '../src/kernels/native-stream.js';
import { ratToFloat32, toScaled } from './reference/exact-mean.js';

const native = nativeKernel() === null ? null : nativeStream(new Float32Array(1));

/**
 * One lane of a state divided by k: a float32 midpoint M (any binade in ±[2^-100, 2^100]), s = k·(M + d
 * float64 ulps of M) rounded, and c = 0 or a fraction of an ulp of s. d is mostly far from 0 (a block
 * without a lane near a midpoint is finished without a recheck), sometimes at the finish's thresholds (60 to
 * 100 ulps), and with weight `near` 1 to 3 ulps off (where only the exact finisher knows the side).
 */
const lane = (k: number, near: number) =>
  fc
    .tuple(
      fc.integer({ min: 0, max: 2 ** 23 - 1 }),
      fc.integer({ min: -100, max: 100 }),
      fc.boolean(),
      fc.oneof(
        { weight: 200, arbitrary: fc.noBias(fc.integer({ min: -(2 ** 27), max: 2 ** 27 })) },
        { weight: 2, arbitrary: fc.integer({ min: 60, max: 100 }).chain((d) => fc.constantFrom(d, -d)) },
        { weight: near, arbitrary: fc.integer({ min: 1, max: 3 }).chain((d) => fc.constantFrom(d, -d)) },
      ),
      fc.oneof(fc.constant(0), fc.integer({ min: -(2 ** 20), max: 2 ** 20 })),
    )
    .map(([m, e, negative, d, cUnits]) => {
      const mid = (1 + (2 * m + 1) * 2 ** -24) * 2 ** e * (negative ? -1 : 1);
      const s = k * (mid + d * 2 ** (e - 52));
      const c = cUnits * 2 ** (Math.floor(Math.log2(Math.abs(s))) - 52 - 22);
      return { s, c };
    });

/** A count k (1 to 5000, or a power of two), a weight of near lanes, and up to 2500 lanes. */
const states = fc
  .tuple(
    fc.oneof(
      fc.integer({ min: 1, max: 5000 }),
      fc.integer({ min: 0, max: 12 }).map((p) => 2 ** p),
    ),
    fc.constantFrom(0, 2, 40),
  )
  .chain(([k, near]) =>
    fc.tuple(fc.constant(k), fc.array(lane(k, near), { minLength: 1, maxLength: 2500, size: 'max' })),
  );

const expected = (s: number, c: number, k: number): number =>
  ratToFloat32(toScaled(s) + toScaled(c), BigInt(k) << 1074n);

/** The fallback's float32 finish (src/operators/internal/running-accumulator.ts, JavaScript loop). */
const jsFinish = (s: number, c: number, k: number): number => {
  const m = (c === 0 ? s : s + c) / k;
  return m - m === 0 ? roundQuotientToFloat32(m, s, c, k, 0) : m;
};

describe('float32 finish of running states near float32 midpoints', () => {
  it('native (when loaded) and JavaScript finishes give the float32 nearest (s + c) / k', () => {
    fc.assert(
      fc.property(states, ([k, lanes]) => {
        const n = lanes.length;
        const s = Float64Array.from(lanes, (l) => l.s);
        const c = Float64Array.from(lanes, (l) => l.c);
        const want = Float32Array.from(s, (_, i) => expected(s[i], c[i], k));
        const js = Float32Array.from(s, (_, i) => jsFinish(s[i], c[i], k));
        expect(Array.from(js)).toEqual(Array.from(want));
        if (native !== null) {
          const out = new Float32Array(n);
          finishNativeF32(native, s, c, out, k, (i) => jsFinish(s[i], c[i], k));
          expect(Array.from(out)).toEqual(Array.from(want));
          // The one-pass add-and-finish of runningMean: x added into a copy of the state first.
          const x = new Float32Array(n);
          const s2 = s.slice();
          const c2 = c.slice();
          const out2 = new Float32Array(n);
          accumulateFinishNative(
            native,
            x,
            s2,
            c2,
            out2,
            k,
            false,
            () => {},
            (i) => jsFinish(s2[i], c2[i], k),
          );
          expect(Array.from(out2)).toEqual(Array.from(want));
        }
      }),
      { numRuns: 60 },
    );
  });
});
