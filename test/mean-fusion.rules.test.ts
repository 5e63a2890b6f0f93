import { describe, expect, it } from 'vitest';
import {
  DTypeError,
  EmptyInputError,
  meanFusion,
  OptionError,
  ShapeMismatchError,
  type Tensor,
  TensorError,
  tensor,
} from '../src/index.js';

const f32 = (values: number[], shape?: number[]): Tensor => tensor(new Float32Array(values), shape);
const f64 = (values: number[], shape?: number[]): Tensor => tensor(new Float64Array(values), shape);

describe('rule 1: output shape and dtype', () => {
  it('keeps the input shape, any rank including 0-d and zero-length', () => {
    expect(
      meanFusion([f64([1, 2, 3, 4, 5, 6], [2, 1, 3]), f64([1, 2, 3, 4, 5, 6], [2, 1, 3])]).shape,
    ).toEqual([2, 1, 3]);
    const scalar = meanFusion([f64([3], []), f64([4], [])]);
    expect(scalar.shape).toEqual([]);
    expect(Array.from(scalar.data)).toEqual([3.5]);
    expect(meanFusion([f64([], [0, 5]), f64([], [0, 5])]).shape).toEqual([0, 5]);
  });
  it('is float32 when every input is float32, float64 otherwise', () => {
    expect(meanFusion([f32([1]), f32([2])]).dtype).toBe('float32');
    expect(meanFusion([f32([1]), f64([2])]).dtype).toBe('float64');
    expect(meanFusion([tensor(new Int8Array([1])), tensor(new Uint8Array([2]))]).dtype).toBe('float64');
    expect(meanFusion([tensor(new Uint8ClampedArray([1]))]).dtype).toBe('float64');
  });
  it('lets `dtype` and `out` override', () => {
    expect(meanFusion([f64([1]), f64([2])], { dtype: 'float32' }).dtype).toBe('float32');
    expect(meanFusion([f32([1]), f32([2])], { dtype: 'float64' }).data).toBeInstanceOf(Float64Array);
    const out = f64([0]);
    expect(meanFusion([f32([1]), f32([2])], { out })).toBe(out);
    expect(out.data[0]).toBe(1.5);
  });
});

describe('rule 2: float64 accumulation, one rounding to the output dtype', () => {
  it('mean of float32 [16777216, 1, 1] is 5592406', () => {
    expect(meanFusion([f32([16777216]), f32([1]), f32([1])]).data[0]).toBe(5592406);
  });
  it('mean of 2^25 float32 ones is exactly 1', () => {
    const one = f32([1]);
    const inputs = new Array<Tensor>(2 ** 25).fill(one);
    const r = meanFusion(inputs);
    expect(r.dtype).toBe('float32');
    expect(r.data[0]).toBe(1);
  });
  it('float32 results are exact despite cancellation and double rounding', () => {
    // float64 sequential sum loses the 1 (1e30 + 1 = 1e30); compensation keeps it
    expect(meanFusion([f32([1e30]), f32([1]), f32([-1e30])]).data[0]).toBe(Math.fround(1 / 3));
    // (3 + 3·2^-24 + 2^-100) / 3 is just above the float32 midpoint 1 + 2^-24: round up, not to even
    expect(meanFusion([f32([3]), f32([3 * 2 ** -24]), f32([2 ** -100])]).data[0]).toBe(1 + 2 ** -23);
    expect(meanFusion([f32([3]), f32([3 * 2 ** -24]), f32([-(2 ** -100)])]).data[0]).toBe(1);
  });
  it('the same exact float32 rounding holds on long rows (SIMD path with its midpoint check)', () => {
    const n = 1000;
    const cols = [3, 3 * 2 ** -24, 2 ** -100].map((v, j) =>
      f32(Array.from({ length: n }, (_, i) => (j === 2 && i % 2 ? -v : v))),
    );
    const r = meanFusion(cols).data;
    for (let i = 0; i < n; i++) expect(r[i]).toBe(i % 2 ? 1 : 1 + 2 ** -23);
  });
  it('weights are applied in float64, not rounded to float32', () => {
    // 0.1 is not a float32; the float32 result must be the float32 nearest (1·0.1 + 3·0.3) / (0.1 + 0.3)
    const r = meanFusion([f32([1]), f32([3])], { weights: [0.1, 0.3] });
    expect(r.data[0]).toBe(Math.fround(2.5));
  });
});

describe('rule 3: input order, deterministic', () => {
  it('adds per element in input order (sequential float64 sum)', () => {
    const xs = [1e16, 1, 1, -1e16];
    let s = xs[0];
    for (const x of xs.slice(1)) s += x;
    expect(meanFusion(xs.map((x) => f64([x]))).data[0]).toBe(s / 4);
  });
  it('gives the same bits for the same input whatever the block boundaries', () => {
    const n = 10_000; // spans several SIMD blocks with an odd tail
    const a = new Float64Array(n).map((_, i) => Math.sin(i) * 1e3);
    const b = new Float64Array(n).map((_, i) => Math.cos(i) * 1e-3);
    const whole = meanFusion([tensor(a), tensor(b)]).data;
    for (let i = 0; i < n; i += 997) {
      const one = meanFusion([tensor(a.slice(i, i + 1)), tensor(b.slice(i, i + 1))]).data[0];
      expect(Object.is(one, whole[i])).toBe(true);
    }
  });
});

describe('rule 4: no spurious overflow', () => {
  it('mean(1e308, 1e308) = 1e308', () => {
    expect(meanFusion([f64([1e308]), f64([1e308])]).data[0]).toBe(1e308);
  });
  it('mean of float64 max values is float64 max', () => {
    expect(
      meanFusion([f64([Number.MAX_VALUE]), f64([Number.MAX_VALUE]), f64([Number.MAX_VALUE])]).data[0],
    ).toBe(Number.MAX_VALUE);
  });
  it('weighted: large weights times large values do not overflow', () => {
    expect(meanFusion([f64([1e300]), f64([1e300])], { weights: [1e10, 1e10] }).data[0]).toBe(1e300);
  });
  it('only infinite inputs give ±inf; inf + -inf gives NaN', () => {
    expect(meanFusion([f64([Infinity]), f64([1])]).data[0]).toBe(Infinity);
    expect(meanFusion([f64([1e308]), f64([1e308]), f64([-Infinity])]).data[0]).toBe(-Infinity);
    expect(meanFusion([f64([Infinity]), f64([-Infinity])]).data[0]).toBeNaN();
    expect(meanFusion([f64([1e308]), f64([1e308]), f64([-1e308])]).data[0]).toBe(1e308 / 3);
  });
  it('float32 output of a float64 mean beyond float32 range is inf', () => {
    expect(meanFusion([f64([1e300]), f64([1e300])], { dtype: 'float32' }).data[0]).toBe(Infinity);
  });
});

describe('rule 5: signed zero', () => {
  it('the mean of inputs that are all -0 is -0 (float64, float32, weighted)', () => {
    expect(Object.is(meanFusion([f64([-0]), f64([-0])]).data[0], -0)).toBe(true);
    expect(Object.is(meanFusion([f32([-0]), f32([-0]), f32([-0])]).data[0], -0)).toBe(true);
    expect(Object.is(meanFusion([f64([-0]), f64([-0])], { weights: [1, 2] }).data[0], -0)).toBe(true);
  });
  it('a +0 among -0 gives +0', () => {
    expect(Object.is(meanFusion([f64([-0]), f64([0])]).data[0], 0)).toBe(true);
  });
});

describe('rule 6: NaN', () => {
  it('propagate: any NaN makes the element NaN', () => {
    const r = meanFusion([f64([1, Number.NaN]), f64([3, 4])]).data;
    expect(r[0]).toBe(2);
    expect(r[1]).toBeNaN();
  });
  it('omit: NaNs are skipped (nanmean); all-NaN elements are NaN, with no console output', () => {
    const r = meanFusion([f32([1, Number.NaN, Number.NaN]), f32([3, 4, Number.NaN])], { nan: 'omit' }).data;
    expect(Array.from(r.slice(0, 2))).toEqual([2, 4]);
    expect(r[2]).toBeNaN();
  });
});

describe('rule 7: weighted mean', () => {
  it('computes Σ wᵢxᵢ / Σ wᵢ', () => {
    expect(Array.from(meanFusion([f64([1, 2]), f64([3, 5])], { weights: [1, 3] }).data)).toEqual([2.5, 4.25]);
  });
  it('drops the weights of skipped NaN inputs with nan: omit', () => {
    const r = meanFusion([f64([1, Number.NaN]), f64([3, 5])], { weights: [1, 3], nan: 'omit' }).data;
    expect(Array.from(r)).toEqual([2.5, 5]);
  });
  it('rejects a wrong count, a non-finite weight and a zero sum', () => {
    expect(() => meanFusion([f64([1]), f64([2])], { weights: [1] })).toThrow(
      /one weight per input \(2\), got 1/,
    );
    expect(() => meanFusion([f64([1]), f64([2])], { weights: [1, Number.NaN] })).toThrow(/weights\[1\]/);
    expect(() => meanFusion([f64([1]), f64([2])], { weights: [1, Infinity] })).toThrow(OptionError);
    expect(() => meanFusion([f64([1]), f64([2])], { weights: [1, -1] })).toThrow(/non-zero sum/);
    expect(() => meanFusion([f64([1]), f64([3])], { weights: [1e308, 1e308] })).toThrow(
      /magnitudes sum to a finite/,
    );
  });
  it('decides a zero weight sum as the kernel computes it (compensated), not by a naive sum', () => {
    // 1 + 1e-17 − 1 is 0 in plain float64 but 1e-17 compensated; the compensated float32 path is then exact
    expect(() => meanFusion([f64([2]), f64([4]), f64([2])], { weights: [1, 1e-17, -1] })).not.toThrow();
    const r = meanFusion([f64([2]), f64([4]), f64([2])], { weights: [1, 1e-17, -1], dtype: 'float32' })
      .data[0];
    expect(r).toBe(4);
  });
});

describe('rule 8: integer inputs are exact', () => {
  it('int32 [2147483647, 2147483647] has mean 2147483647', () => {
    const x = tensor(new Int32Array([2147483647]));
    expect(meanFusion([x, x]).data[0]).toBe(2147483647);
  });
  it('uint32 and int8 extremes', () => {
    expect(
      meanFusion([tensor(new Uint32Array([4294967295])), tensor(new Uint32Array([4294967293]))]).data[0],
    ).toBe(4294967294);
    expect(meanFusion([tensor(new Int8Array([-128])), tensor(new Int8Array([127]))]).data[0]).toBe(-0.5);
  });
});

describe('rule 9: errors', () => {
  it('empty input list', () => {
    expect(() => meanFusion([])).toThrow(EmptyInputError);
    try {
      meanFusion([]);
    } catch (error) {
      expect((error as EmptyInputError).code).toBe('ERR_EMPTY_INPUT');
      expect((error as Error).name).toBe('EmptyInputError');
    }
  });
  it('shapes that differ: names the index and both shapes', () => {
    expect(() => meanFusion([f64([1, 2], [2]), f64([1, 2], [2]), f64([1, 2], [1, 2])])).toThrow(
      /inputs\[2\] has shape \(1, 2\) but inputs\[0\] has shape \(2,\)/,
    );
    expect(() => meanFusion([f64([1, 2], [2]), f64([1, 2], [1, 2])])).toThrow(ShapeMismatchError);
  });
  it('dtype not supported', () => {
    const big = { data: new BigInt64Array(1), shape: [1], dtype: 'float64' };
    expect(() => meanFusion([big as unknown as Tensor])).toThrow(DTypeError);
    // int64 data is supported (issue 14), but not under a dtype field that contradicts it.
    expect(() => meanFusion([big as unknown as Tensor])).toThrow(
      /inputs\[0\]\.dtype is "float64" but its data is a BigInt64Array \(int64\)/,
    );
    const view = { data: new DataView(new ArrayBuffer(8)), shape: [1] };
    expect(() => meanFusion([view as unknown as Tensor])).toThrow(DTypeError);
    expect(() => meanFusion([view as unknown as Tensor])).toThrow(/got DataView/);
  });
  it('malformed tensors', () => {
    expect(() => meanFusion([{ data: new Float64Array(3), shape: [2], dtype: 'float64' }])).toThrow(
      TensorError,
    );
    expect(() => tensor(new Float64Array(2), [2, -1])).toThrow(/shape`\[1\] to be a non-negative integer/);
  });
  it('bad options', () => {
    expect(() => meanFusion([f64([1])], { nan: 'skip' as 'omit' })).toThrow(
      /`nan` to be 'propagate' or 'omit'/,
    );
    expect(() => meanFusion([f64([1])], { dtype: 'int32' as 'float32' })).toThrow(/`dtype`/);
    expect(() => meanFusion([f64([1, 2])], { out: f64([0]) })).toThrow(/`out` has shape/);
    expect(() => meanFusion([f64([1])], { out: tensor(new Int32Array(1)) })).toThrow(/float32 or float64/);
  });
  it('writes nothing into `out` on error', () => {
    const out = f64([7, 7]);
    expect(() => meanFusion([f64([1, 2]), f64([1, 2]), f64([1])], { out })).toThrow(ShapeMismatchError);
    expect(() => meanFusion([f64([1, 2]), f64([3, 4])], { out, weights: [1, Number.NaN] })).toThrow(
      OptionError,
    );
    expect(Array.from(out.data)).toEqual([7, 7]);
  });
});
