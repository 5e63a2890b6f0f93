/**
 * The native half-precision kernel (native/half.c) against its JavaScript reference (meanRangeHalfReference),
 * bit for bit: float16/bfloat16 inputs (alone and mixed with float32/float64/int inputs) into every output
 * dtype, on model-like data full of rounding ties, with specials (±0, ±inf, NaN, subnormals) and chunks
 * the C kernel must hand back (float64 sums that are inexact). Under MEAN_FUSION_KERNEL=wasm the native
 * kernel is absent and meanRangeHalf is the reference itself (the fallback is what runs).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { meanRangeHalf, meanRangeHalfReference } from '../src/kernels/half-range.js';
import { meanRange } from '../src/kernels/mean-range.js';
import { meanHalfNative, nativeHalfKernel } from '../src/kernels/native-half.js';
import type { HalfKernelDTypes, MeanKernelParams } from '../src/kernels/params.js';
import type { TypedArray } from '../src/tensor/dtype.js';
import { type HalfDType, halfToFloat32, toHalfBits } from '../src/tensor/half.js';

const NATIVE = process.env.MEAN_FUSION_KERNEL !== 'wasm';
const HALVES: HalfDType[] = ['float16', 'bfloat16'];
type Out = HalfDType | 'float32' | 'float64';
const OUTS: Out[] = ['float16', 'bfloat16', 'float32', 'float64'];

const halfOut = (d: Out): HalfDType | null => (d === 'float16' || d === 'bfloat16' ? d : null);
const alloc = (d: Out, n: number) =>
  d === 'float32' ? new Float32Array(n) : d === 'float64' ? new Float64Array(n) : new Uint16Array(n);
const bitsOf = (a: Float64Array | Float32Array | Uint16Array) =>
  a instanceof Uint16Array ? Array.from(a) : Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));

/** Half bit patterns within a few binades below 1 (so sums are exact and ties frequent), from `r`. */
function modelBits(r: number, d: HalfDType): number {
  const [frac, bias] = d === 'float16' ? [10, 15] : [7, 127];
  return (r & 0x8000) | ((bias - 1 - (r % 5)) << frac) | ((r >>> 4) & ((1 << frac) - 1));
}

function run(inputs: TypedArray[], half: HalfKernelDTypes, out: Out, start: number, end: number) {
  const params: MeanKernelParams = { weights: null, nanOmit: false, half };
  const got = alloc(out, end);
  const want = alloc(out, end);
  meanRangeHalf(inputs, got, start, end, params, meanRange);
  meanRangeHalfReference(inputs, want, start, end, params, meanRange);
  return {
    got: bitsOf(got),
    want: bitsOf(want),
    served: meanHalfNative(inputs, alloc(out, end), start, end, half),
  };
}

describe('native half kernel', () => {
  it('is loaded exactly when the native kernel is', () => {
    expect(nativeHalfKernel() !== null).toBe(NATIVE);
  });
  for (const d of HALVES) {
    for (const out of OUTS) {
      it(`${d} → ${out}: the bits of the reference on model-like data (ties), and the C kernel serves it`, () => {
        fc.assert(
          fc.property(
            fc.integer({ min: 1, max: 9 }),
            fc.integer({ min: 1, max: 9000 }),
            fc.integer({ min: 0, max: 2 ** 31 - 1 }),
            (k, n, seed) => {
              let s = seed;
              const next = () => {
                s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
                return s >>> 16;
              };
              const inputs = Array.from({ length: k }, () =>
                Uint16Array.from({ length: n }, () => modelBits(next(), d)),
              );
              const start = next() % Math.max(1, n >> 3);
              const r = run(inputs, { inputs: inputs.map(() => d), out: halfOut(out) }, out, start, n);
              expect(r.got).toEqual(r.want);
              expect(r.served).toBe(NATIVE);
            },
          ),
          { numRuns: 40 },
        );
      });
    }
    it(`${d}: specials (±0, ±inf, NaN, subnormals, the largest values) give the reference's bits`, () => {
      const specials =
        d === 'float16'
          ? [
              0, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0xfe01, 0x0001, 0x8001, 0x03ff, 0x7bff, 0xfbff, 0x3c00,
              0x3c01,
            ]
          : [
              0, 0x8000, 0x7f80, 0xff80, 0x7fc0, 0xff81, 0x0001, 0x8001, 0x007f, 0x7f7f, 0xff7f, 0x3f80,
              0x3f81,
            ];
      for (let k = 1; k <= 4; k++) {
        const n = specials.length ** Math.min(k, 2);
        const inputs = Array.from({ length: k }, (_, j) =>
          Uint16Array.from(
            { length: n },
            (_, i) => specials[Math.floor(i / specials.length ** (j % 2)) % specials.length],
          ),
        );
        for (const out of OUTS) {
          const r = run(inputs, { inputs: inputs.map(() => d), out: halfOut(out) }, out, 0, n);
          expect(r.got).toEqual(r.want);
        }
      }
    });
  }
  it('mixed inputs (bfloat16, float16, float32, float64, int16) into every output', () => {
    const n = 5000;
    let s = 7;
    const next = () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s >>> 16;
    };
    const inputs: TypedArray[] = [
      Uint16Array.from({ length: n }, () => modelBits(next(), 'bfloat16')),
      Uint16Array.from({ length: n }, () => modelBits(next(), 'float16')),
      Float32Array.from({ length: n }, () => (next() - 32768) / 4096),
      Float64Array.from({ length: n }, () => (next() - 32768) / 1024 + 2 ** -40),
      Int16Array.from({ length: n }, () => next() - 32768),
    ];
    for (const out of OUTS) {
      const half: HalfKernelDTypes = {
        inputs: ['bfloat16', 'float16', null, null, null],
        out: halfOut(out),
      };
      const r = run(inputs, half, out, 3, n);
      expect(r.got).toEqual(r.want);
    }
  });
  for (const d of HALVES) {
    it(`${d}: a float32 result on a ${d} midpoint whose exact mean is off it goes to the exact side`, () => {
      // mean(3, 3·2^-p, ±δ) = 1 + 2^-p ± δ/3: its float32 is the midpoint 1 + 2^-p, the exact mean is not.
      const [p, delta] = d === 'float16' ? [11, 2 ** -24] : [8, 2 ** -30];
      const enc = (xs: number[]) => toHalfBits(xs, d);
      const a = enc([3, 3, -3, -3, 3]);
      const b = enc([3 * 2 ** -p, 3 * 2 ** -p, -3 * 2 ** -p, -3 * 2 ** -p, 3 * 2 ** -p]);
      const c = enc([delta, -delta, delta, -delta, 0]);
      const half: HalfKernelDTypes = { inputs: [d, d, d], out: d };
      const r = run([a, b, c], half, d, 0, 5);
      expect(r.got).toEqual(r.want);
      expect(r.served).toBe(NATIVE);
      const up = 1 + 2 ** (1 - p);
      const got = Array.from(halfToFloat32(Uint16Array.from(r.got), d));
      expect(got).toEqual([up, 1, -1, -up, 1]);
    });
  }
  for (const d of HALVES) {
    it(`${d}: blocks whose elements lie binades apart (no block certificate, exact per element) and midpoints`, () => {
      const n = 3000;
      const [frac, bias, spread] = d === 'float16' ? [10, 15, 12] : [7, 127, 60];
      let s = 11;
      const next = () => {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        return s >>> 16;
      };
      for (const k of [2, 3, 4, 7]) {
        const inputs = Array.from({ length: k }, () =>
          Uint16Array.from({ length: n }, (_, i) => {
            const r = next();
            const e = bias + (i % 2 === 0 ? spread : -spread) - (r % 3);
            return (r & 0x8000) | (e << frac) | ((r >>> 4) & ((1 << frac) - 1));
          }),
        );
        const r = run(inputs, { inputs: inputs.map(() => d), out: d }, d, 0, n);
        expect(r.got).toEqual(r.want);
        expect(r.served).toBe(NATIVE);
      }
    });
  }
  it('the exact mode takes the reference (its float32/float64 results of half inputs are its own)', () => {
    const n = 2000;
    const inputs = [1, 2, 3].map((j) =>
      Uint16Array.from({ length: n }, (_, i) => modelBits((i * 7919 + j * 104729) & 0xffff, 'bfloat16')),
    );
    for (const out of OUTS) {
      const params: MeanKernelParams = {
        weights: null,
        nanOmit: false,
        exact: true,
        half: { inputs: inputs.map(() => 'bfloat16'), out: halfOut(out) },
      };
      const got = alloc(out, n);
      const want = alloc(out, n);
      meanRangeHalf(inputs, got, 0, n, params, meanRange);
      meanRangeHalfReference(inputs, want, 0, n, params, meanRange);
      expect(bitsOf(got)).toEqual(bitsOf(want));
    }
  });
  it('hands back a range whose tie it cannot decide in float64 (1.5, 1.5·2^-8, 2^-100 in bfloat16)', () => {
    const bits = [0x3fc0, 0x3bc0, 0x0d80].map((b) => new Uint16Array([b, b]));
    const half: HalfKernelDTypes = { inputs: ['bfloat16', 'bfloat16', 'bfloat16'], out: 'bfloat16' };
    const r = run(bits, half, 'bfloat16', 0, 2);
    expect(r.got).toEqual(r.want);
    expect(r.served).toBe(false);
  });
});
