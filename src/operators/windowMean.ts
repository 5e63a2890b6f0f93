/** `windowMean`: the mean of the last `size` tensors of a stream (a moving average). */
import { defer, filter, map, type Observable, type OperatorFunction } from 'rxjs';
import { describe, OptionError } from '../errors.js';
import { type BigIntArray, isBigIntArray, type TypedArray } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import { ExactIntegerAccumulator } from './internal/int64-stream.js';
import { resolveStreamOptions, type StreamMeanOptions } from './internal/stream-options.js';
import { type StreamItem, StreamReader } from './internal/stream-reader.js';
import { WindowAccumulator } from './internal/window-accumulator.js';

/** Options of {@link windowMean}. */
export interface WindowMeanOptions extends StreamMeanOptions {
  /**
   * Also emit while the window fills: the mean of the first 1, 2, … `size` − 1 inputs.
   * @default false
   */
  emitWhileFilling?: boolean;
}

/**
 * The moving mean of a stream of tensors: once `size` inputs have arrived, emits the mean of the last
 * `size` inputs after every input (and, with `emitWhileFilling`, the mean of all inputs so far before that).
 *
 * Items are tensors (or nested number arrays), or `{ tensor, weight }` for a weighted window mean; the
 * first item decides which, and every tensor must have the first one's shape and dtype. Semantics (dtype,
 * NaN policy, weights) as `meanFusion` of the window. Work is O(1) per element per input: a compensated
 * (TwoSum) running sum adds the newest input and subtracts the leaving one, and restarts every `size` inputs
 * from a sum that only added the current window, so error never builds up: results stay within a few ulps
 * of `meanFusion` of the window however long the stream (a float32 result is the float32 nearest the
 * compensated quotient). Elements whose running sum is not finite (infinities, NaN, overflow) are computed
 * by the kernel over the window, exactly as `meanFusion`. A zero mean may come out as +0 where
 * `meanFusion` gives −0. Memory: the window's `size` tensors (copied, so the producer may reuse its
 * buffers) plus a few float64 arrays of the tensor's size. Each emission is a new tensor, never written again.
 *
 * Errors travel through the error channel, nothing is emitted after one: {@link ShapeMismatchError} /
 * {@link DTypeError} when an item's shape or dtype differs from item 0's (naming the position and both
 * shapes); {@link OptionError} for mixed weighted and plain items, a non-finite weight, or a window whose
 * weights sum to 0.
 *
 * @param size - Window length, an integer ≥ 1.
 * @param options - `nan`, `dtype` as `meanFusion`, and `emitWhileFilling`.
 * @returns An operator from stream items to tensors of the items' shape.
 * @throws {OptionError} at call time when `size` is not an integer ≥ 1 or an option is bad.
 */
export function windowMean(size: number, options?: WindowMeanOptions): OperatorFunction<StreamItem, Tensor> {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1) {
    throw new OptionError(`Expected \`size\` to be an integer from 1 and up, got ${describe(size)}`);
  }
  const resolved = resolveStreamOptions(options, 'windowMean', ['emitWhileFilling']);
  const whileFilling = options?.emitWhileFilling ?? false;
  if (typeof whileFilling !== 'boolean') {
    throw new OptionError(`Expected \`emitWhileFilling\` to be a boolean, got ${describe(whileFilling)}`);
  }
  return (source: Observable<StreamItem>) =>
    defer(() => {
      const reader = new StreamReader();
      let acc: WindowAccumulator | ExactIntegerAccumulator | undefined;
      return source.pipe(
        map((item): Tensor | undefined => {
          const { tensor, weight } = reader.read(item);
          // int64/uint64 streams sum exactly in BigInts (src/operators/internal/int64-stream.ts).
          acc ??= isBigIntArray(tensor.data)
            ? new ExactIntegerAccumulator(tensor, reader.weighted, resolved, size)
            : new WindowAccumulator(size, tensor, reader.weighted, resolved);
          if (acc instanceof ExactIntegerAccumulator) acc.push(tensor.data as BigIntArray, weight);
          else acc.push(tensor.data as TypedArray, weight);
          return whileFilling || acc.length === size ? acc.result() : undefined;
        }),
        filter((t): t is Tensor => t !== undefined),
      );
    });
}
