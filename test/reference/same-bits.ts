// Shared helpers of the kernel-heap tests: deterministic data with special values, an ordinary copy of a
// tensor (the independent path a heap result is compared with) and a bitwise comparison.
import { expect } from 'vitest';
import type { TypedArray } from '../../src/tensor/dtype.js';
import { type Tensor, tensor } from '../../src/tensor/tensor.js';
import { lcg } from './random.js';

/** Fills `x` with deterministic values (from `seed`) with NaN, ±inf, −0 and huge magnitudes sprinkled in. */
export function fillSprinkled(x: TypedArray, seed: number): void {
  const next = lcg(seed);
  const rand = () => next() / 4294967296;
  const specials = [
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    -0,
    1e308,
    -1e308,
    5e-324,
  ];
  for (let i = 0; i < x.length; i++) {
    const r = rand();
    if (r < 0.01) x[i] = specials[Math.floor(rand() * specials.length)];
    else if (r < 0.5) x[i] = (rand() * 2 - 1) * 2 ** Math.floor(rand() * 60 - 30);
    else x[i] = (Math.floor(rand() * 2 ** 26) - 2 ** 25) * 2 ** -24;
  }
}

/** An ordinary copy of a tensor (the independent path). */
export const plainCopy = (t: Tensor): Tensor => tensor(t.data.slice(), t.shape);

/** Asserts the same shape, dtype and bits (Object.is per element: NaN equals NaN, −0 differs from +0). */
export function expectSameBits(got: Tensor, want: Tensor, what: string): void {
  expect(got.shape).toEqual(want.shape);
  expect(got.dtype).toBe(want.dtype);
  for (let i = 0; i < want.data.length; i++) {
    if (!Object.is(got.data[i], want.data[i])) {
      throw new Error(
        `${what}: element ${i} of ${want.data.length}: got ${got.data[i]}, want ${want.data[i]}`,
      );
    }
  }
}
