/** The synchronous, validating public face of the kernel. */
import { meanRange } from '../kernels/mean-range.js';
import { allocate } from '../tensor/alloc.js';
import type { FloatDataArray } from '../tensor/dtype.js';
import type { Tensor, TensorLike } from '../tensor/tensor.js';
import type { MeanFusionOptions } from './options.js';
import { type FusionPlan, kernelParams, planFusion } from './validate.js';

/**
 * Element-wise mean fusion of k tensors of one shape: `A[i] = mean(A₁[i], …, A_k[i])`, or the weighted mean
 * `Σ wⱼ·Aⱼ[i] / Σ wⱼ`. Semantics of tinyBIG's `mean_fusion` (`tinybig/fusion/metric_fusion.py`: stack the
 * inputs, take the mean along the stacking axis), computed more exactly:
 *
 * - Output shape = input shape. Output dtype: the inputs' dtype when all are float32, all float16 or all
 *   bfloat16 (as `Uint16Array` bit patterns, see `tensor()`); float32 when float16 and bfloat16 mix; else
 *   float64; `dtype` (or `out`) overrides with any float dtype. A float16/bfloat16 result is the value of
 *   that dtype nearest the exact mean (ties to even), as for float32: mean(60000, 60000) is 60000.
 * - Accumulates in float64 in input order (deterministic, chunking-independent); a float32 result is the
 *   float32 nearest the exact mean (compensated sums) unless the terms cancel by more than 2^40, for weights
 *   anywhere in float64's range; a float64 result is within k ulps of it for same-sign data (k + 2 with
 *   weights).
 * - No spurious overflow: mean(1e308, 1e308) is 1e308; only infinite inputs give ±inf, inf + −inf gives NaN.
 * - The mean of inputs that are all −0 is −0. Integer inputs are exact; int64/uint64 inputs (`BigInt64Array`,
 *   `BigUint64Array`) are summed exactly and give the float64 (float32) nearest the exact mean.
 *
 * @param inputs - k ≥ 1 tensors (or nested number arrays) of identical shape, any supported dtype
 *   (float64, float32, int8–int64, uint8–uint64; dtypes may differ between inputs).
 * @param options - See {@link MeanFusionOptions}.
 * @returns A new tensor (or `options.out`) of the input shape.
 * @throws {EmptyInputError} when `inputs` is empty.
 * @throws {ShapeMismatchError} when shapes differ (names the index and both shapes), or `out` has another shape.
 * @throws {DTypeError} when an input holds an unsupported type (a Float16Array, a DataView, plain arrays of
 *   non-numbers) or a `dtype` field that contradicts its data.
 * @throws {TensorError} when an input's `data.length` disagrees with its shape.
 * @throws {OptionError} for an unknown option key (named, e.g. a misspelt `wieghts`), wrong weights (count,
 *   non-finite, zero sum), `nan` or `dtype`, or a mismatched `out`.
 */
export function meanFusion(inputs: readonly TensorLike[], options?: MeanFusionOptions): Tensor {
  return runPlan(planFusion(inputs, options));
}

/** Runs a validated plan on the calling thread into `plan.options.out` or a new tensor, and returns it. */
export function runPlan(plan: FusionPlan): Tensor {
  // A new result is an ordinary tensor even for heap inputs: heap memory is invisible to the garbage
  // collector's heuristics, so results allocated there in a loop could fill the heap before a collection
  // frees them. Pass a heap `out` for the in-place path.
  const out = plan.options.out ?? allocate(plan.dtype, plan.shape);
  meanRange(
    plan.inputs.map((t) => t.data),
    out.data as FloatDataArray,
    0,
    out.data.length,
    kernelParams(plan),
  );
  return out;
}
