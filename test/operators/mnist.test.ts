import { createRequire } from 'node:module';
import { firstValueFrom, from, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { meanFusion, runningMean, type Tensor, tensor } from '../../src/index.js';
import { firstBitDifference } from './helpers.js';

/** The `mnist` package: per digit, `raw` holds every 28×28 image's pixels (0…1) back to back, `length` images. */
const mnist = createRequire(import.meta.url)('mnist') as { raw: number[]; length: number }[];

function images(digit: number, Ctor: Float64ArrayConstructor | Float32ArrayConstructor): Tensor[] {
  const { raw, length } = mnist[digit];
  return Array.from({ length }, (_, j) => tensor(Ctor.from(raw.slice(j * 784, (j + 1) * 784)), [28, 28]));
}

describe('MNIST digits as a real stream', () => {
  it.each([
    [3, Float64Array],
    [7, Float32Array],
  ] as const)(
    'runningMean over every image of digit %i (%o) equals meanFusion bitwise',
    async (digit, Ctor) => {
      const stream = images(digit, Ctor);
      expect(stream.length).toBeGreaterThan(900);
      const means = await firstValueFrom(from(stream).pipe(runningMean(), toArray()));
      expect(means).toHaveLength(stream.length);
      // Every 97th prefix and the whole stream (every prefix would be quadratic).
      for (let n = 1; n <= stream.length; n += n === stream.length ? 1 : Math.min(97, stream.length - n)) {
        const want = meanFusion(stream.slice(0, n));
        expect(firstBitDifference(means[n - 1], want), `prefix ${n}`).toBe(-1);
      }
      expect(means.at(-1)?.dtype).toBe(Ctor === Float32Array ? 'float32' : 'float64');
    },
  );
});
