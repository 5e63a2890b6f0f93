// Float32 means that land a few float64 ulps from a float32 midpoint: where the finishes' rounding tests
// (the stream's one-pass add-and-finish, the batch kernel's certified and compensated finishes) must hand
// the element to the exact finisher. Every prefix of the stream and every batch result is compared with the
// exact mean (test/reference/exact-mean.ts) rounded to float32.
import fc from 'fast-check';
import { from, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { meanFusion } from '../../src/fusion/mean-fusion.js';
import { runningMean } from '../../src/operators/runningMean.js';
import { type Tensor, tensor } from '../../src/tensor/tensor.js';
import { exactMeanRounded } from '../reference/exact-mean.js';

/**
 * Items of one element each per lane: a, b (float32 in [1, 2) whose sum is an odd multiple of 2^-23, so
 * (a + b) / 4 is a float32 midpoint), then e = j·2^-step (a float32), then 0. The 4-item mean is the
 * midpoint plus j·2^-(step+2): within ±200 float64 ulps of it for step 51 (exact sums), and a fraction of an
 * ulp for step 54 (the sum rounds and the compensation carries the rest).
 */
const lane = fc
  .tuple(
    fc.integer({ min: 0, max: 2 ** 23 - 1 }),
    fc.integer({ min: 0, max: 2 ** 22 - 1 }),
    fc.integer({ min: -200, max: 200 }),
    fc.constantFrom(51, 54),
  )
  .map(([ma, mb, j, step]) => {
    const a = 1 + ma * 2 ** -23;
    // b's last bit is chosen so that a + b is an odd multiple of 2^-23.
    const b = 1 + (2 * mb + ((ma + 1) % 2)) * 2 ** -23;
    return [a, b, j * 2 ** -step, 0];
  });

describe('float32 means near float32 midpoints', () => {
  it('runningMean (every prefix) and meanFusion give the float32 nearest the exact mean', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(lane, { minLength: 1, maxLength: 2100, size: 'max' }), async (lanes) => {
        const n = lanes.length;
        const items: Tensor[] = [0, 1, 2, 3].map((p) => {
          const data = new Float32Array(n);
          for (let i = 0; i < n; i++) data[i] = lanes[i][p];
          return tensor(data, [n]);
        });
        const prefixes = await lastValueFrom(from(items).pipe(runningMean(), toArray()));
        for (const [p, emitted] of prefixes.entries()) {
          const batch = meanFusion(items.slice(0, p + 1));
          for (let i = 0; i < n; i++) {
            const want = exactMeanRounded(lanes[i].slice(0, p + 1), null, false, 'float32');
            if (!Object.is(emitted.data[i], want) || !Object.is(batch.data[i], want)) {
              expect({ prefix: p + 1, element: i, stream: emitted.data[i], batch: batch.data[i] }).toEqual({
                prefix: p + 1,
                element: i,
                stream: want,
                batch: want,
              });
            }
          }
        }
      }),
      { numRuns: 25 },
    );
  });
});
