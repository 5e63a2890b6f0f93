/** `runningMean`: the exact mean so far of an unbounded stream of tensors. */
import { defer, map, type Observable, type OperatorFunction, reduce } from 'rxjs';
import { describe, EmptyInputError, OptionError } from '../errors.js';
import { type BigIntArray, isBigIntArray, type TypedArray } from '../tensor/dtype.js';
import type { AnyTensor, Tensor } from '../tensor/tensor.js';
import { ExactRunningAccumulator } from './internal/exact-running.js';
import { ExactIntegerAccumulator } from './internal/int64-stream.js';
import { RunningAccumulator } from './internal/running-accumulator.js';
import { resolveStreamOptions, type StreamMeanOptions } from './internal/stream-options.js';
import { type StreamItem, StreamReader } from './internal/stream-reader.js';

type Accumulator = RunningAccumulator | ExactRunningAccumulator | ExactIntegerAccumulator;

/** Options of {@link runningMean}. */
export interface RunningMeanOptions extends StreamMeanOptions {
  /**
   * `'each'`: emit the mean so far after every input. `'complete'`: emit the mean of the whole stream once,
   * when the source completes.
   * @default 'each'
   */
  emit?: 'each' | 'complete';
  /**
   * `true`: every emission is bitwise `meanFusion` of the prefix with `exact: true` — the value of the
   * output dtype nearest the exact mean, for any data (see `MeanFusionOptions.exact`).
   * @default false
   */
  exact?: boolean;
}

/**
 * The mean over a stream of tensors whose length is not known in advance: after n inputs the result is
 * bitwise `meanFusion` of those n inputs (with their weights as `weights` for a weighted stream), with the
 * same dtype, NaN, −0 and overflow rules (e.g. the mean of 1.7e308, −1.7e308, 1.7e308 is about 5.67e307).
 *
 * Items are tensors (or nested number arrays), or `{ tensor, weight }` for a weighted mean Σ wᵢ·xᵢ / Σ wᵢ
 * (e.g. federated averaging, weight = sample count); the first item decides which. Every tensor must have
 * the first one's shape and dtype. State per subscription: a few float64 arrays of the tensor's size, so
 * memory is O(one tensor) however long the stream; work is O(1) per element per input. Each emission is a
 * new tensor, never written again.
 *
 * Errors travel through the error channel, nothing is emitted after one:
 * - {@link ShapeMismatchError} / {@link DTypeError}: an item's shape or dtype differs from item 0's (the
 *   message names the position and both shapes); {@link TensorError} / DTypeError for a malformed tensor.
 * - {@link OptionError}: a weighted item among plain ones or the other way round, a non-finite weight, or
 *   weights of the inputs so far summing to 0 (`meanFusion` refuses those too).
 * - {@link EmptyInputError}: with `emit: 'complete'`, the source completed without any item.
 *
 * Exact up to one limit: an element mixing values near the float64 overflow threshold (where the kernel's
 * overflow-safe pass takes over) with values below about 2^-960 may differ from `meanFusion` in the last bit.
 *
 * @param options - `nan`, `dtype` as `meanFusion`, and `emit`.
 * @returns An operator from stream items to tensors of the items' shape (dtype float32 when the items are
 *   float32, else float64, unless `dtype` says otherwise).
 * @throws {OptionError} at call time for bad options (`weights`/`out` are refused: weights travel with the
 *   items, and emissions are never written into a shared output).
 */
export function runningMean(options?: RunningMeanOptions): OperatorFunction<StreamItem, Tensor> {
  const resolved = resolveStreamOptions(options, 'runningMean', ['emit', 'exact']);
  const emit = options?.emit ?? 'each';
  if (emit !== 'each' && emit !== 'complete') {
    throw new OptionError(`Expected \`emit\` to be 'each' or 'complete', got ${describe(emit)}`);
  }
  const exact = options?.exact === undefined ? false : options.exact;
  if (typeof exact !== 'boolean') {
    throw new OptionError(`Expected \`exact\` to be a boolean, got ${describe(exact)}`);
  }
  return (source: Observable<StreamItem>) =>
    defer(() => {
      const reader = new StreamReader();
      let acc: Accumulator | undefined;
      // int64/uint64 streams sum exactly in BigInts (src/operators/internal/int64-stream.ts); the exact
      // mode keeps an error-free state (src/operators/internal/exact-running.ts).
      const open = (tensor: AnyTensor): Accumulator =>
        isBigIntArray(tensor.data)
          ? new ExactIntegerAccumulator(tensor, reader.weighted, resolved)
          : exact
            ? new ExactRunningAccumulator(tensor, reader.weighted, resolved)
            : new RunningAccumulator(tensor, reader.weighted, resolved);
      const add = (to: Accumulator, tensor: AnyTensor, weight: number): Accumulator => {
        if (to instanceof ExactIntegerAccumulator) to.push(tensor.data as BigIntArray, weight);
        else to.push(tensor.data as TypedArray, weight);
        return to;
      };
      const push = (item: StreamItem): Accumulator => {
        const { tensor, weight } = reader.read(item);
        acc ??= open(tensor);
        return add(acc, tensor, weight);
      };
      if (emit === 'each') {
        return source.pipe(
          map((item) => {
            const { tensor, weight } = reader.read(item);
            acc ??= open(tensor);
            // A plain running mean adds and finishes in one pass (RunningAccumulator.pushResult).
            return acc instanceof RunningAccumulator
              ? acc.pushResult(tensor.data as TypedArray, weight)
              : add(acc, tensor, weight).result();
          }),
        );
      }
      return source.pipe(
        reduce<StreamItem, Accumulator | undefined>((_, item) => push(item), undefined),
        map((done) => {
          if (done === undefined) {
            throw new EmptyInputError('The stream completed without any tensor: a mean needs at least one');
          }
          return done.result();
        }),
      );
    });
}
