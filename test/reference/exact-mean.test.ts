import { describe, expect, it } from 'vitest';
import { exactMeanRounded, ratToFloat32, ratToFloat64, toScaled, ulpDistance64 } from './exact-mean.js';

// The reference must itself be right: check it on values whose rounding is known.
describe('exact reference', () => {
  it('represents doubles exactly', () => {
    expect(toScaled(1)).toBe(1n << 1074n);
    expect(toScaled(-0.5)).toBe(-(1n << 1073n));
    expect(toScaled(2 ** -1074)).toBe(1n);
    expect(toScaled(Number.MAX_VALUE)).toBe(((1n << 53n) - 1n) << (1023n - 52n + 1074n));
  });
  it('rounds rationals to nearest, ties to even', () => {
    expect(ratToFloat64(1n, 3n)).toBe(1 / 3);
    expect(ratToFloat64(-2n, 3n)).toBe(-2 / 3);
    expect(ratToFloat32(1n, 3n)).toBe(Math.fround(1 / 3));
    expect(ratToFloat32((1n << 24n) + 1n, 1n)).toBe(16777216); // tie -> even
    expect(ratToFloat32((1n << 24n) + 3n, 1n)).toBe(16777220); // tie -> even (up)
    expect(ratToFloat64(1n, 1n << 1075n)).toBe(0); // half of the smallest subnormal ties to 0
    expect(ratToFloat64(3n, 1n << 1076n)).toBe(2 ** -1074);
    expect(ratToFloat32(1n, 1n << 150n)).toBe(0);
    expect(ratToFloat64(1n << 1024n, 1n)).toBe(Infinity);
  });
  it('computes means with specials', () => {
    expect(exactMeanRounded([1e308, 1e308], null, false, 'float64')).toBe(1e308);
    expect(exactMeanRounded([Infinity, -Infinity], null, false, 'float64')).toBeNaN();
    expect(Object.is(exactMeanRounded([-0, -0], null, false, 'float64'), -0)).toBe(true);
    expect(exactMeanRounded([1, Number.NaN, 3], null, true, 'float64')).toBe(2);
    expect(exactMeanRounded([16777216, 1, 1], null, false, 'float32')).toBe(5592406);
  });
  it('measures ulps', () => {
    expect(ulpDistance64(1, 1 + 2 ** -52)).toBe(1);
    expect(ulpDistance64(-(2 ** -1074), 2 ** -1074)).toBe(2);
  });
});
