/** Shared helpers of the operator tests: bitwise comparison and collecting an operator's emissions. */
import { firstValueFrom, from, type OperatorFunction, toArray } from 'rxjs';
import type { Tensor } from '../../src/index.js';

/** Index of the first element whose bits differ (NaNs count as equal), or -1; also checks dtype and shape. */
export function firstBitDifference(a: Tensor, b: Tensor): number | string {
  if (a.dtype !== b.dtype) return `dtype ${a.dtype} vs ${b.dtype}`;
  if (a.shape.join() !== b.shape.join()) return `shape ${a.shape} vs ${b.shape}`;
  for (let i = 0; i < a.data.length; i++) {
    const x = a.data[i];
    const y = b.data[i];
    if (!Object.is(x, y) && !(Number.isNaN(x) && Number.isNaN(y))) return i;
  }
  return -1;
}

/** Runs `items` through `op` synchronously and returns every emission. */
export function run<T, R>(items: readonly T[], op: OperatorFunction<T, R>): Promise<R[]> {
  return firstValueFrom(from(items).pipe(op, toArray()));
}
