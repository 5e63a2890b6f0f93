/** Options of a mean fusion, typed and validated in one place (shared by `meanFusion`, the pool and the operators). */
import { describe, OptionError } from '../errors.js';
import { type FloatDType, isFloatDType } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';

/** How NaN inputs are treated. */
export type NanPolicy = 'propagate' | 'omit';

/** Options of {@link meanFusion}. */
export interface MeanFusionOptions {
  /**
   * One finite weight per input; the result is Σ wᵢ·xᵢ / Σ wᵢ computed in float64. Must not sum to zero.
   * Products wᵢ·xᵢ below float64's normal range (~2.2e-308) round absolutely, as IEEE-754 does.
   * @default undefined (every input weighs 1)
   */
  weights?: readonly number[] | Float64Array;
  /**
   * `'propagate'`: any NaN input makes that element NaN (numpy `mean`). `'omit'`: NaN inputs are skipped
   * and their weights leave the denominator (numpy `nanmean`); an element whose inputs are all NaN is NaN.
   * @default 'propagate'
   */
  nan?: NanPolicy;
  /**
   * Output dtype: any float dtype. Defaults to `out.dtype` when `out` is given; else to the inputs' dtype
   * when they all share float32, float16 or bfloat16; to float32 when float16 and bfloat16 inputs mix;
   * float64 otherwise (integers promote to float64, as numpy does).
   */
  dtype?: FloatDType;
  /** Preallocated output of the input shape and the output dtype; written only once all checks pass. */
  out?: Tensor;
  /**
   * `true`: every element is the value of the output dtype nearest the exact real Σ wᵢ·xᵢ / Σ wᵢ of the
   * inputs and weights as given (binary values), ties to even, for any data: no cancellation limit, no
   * spurious overflow or underflow; a zero has the IEEE sign of (Σ terms) / Σ wᵢ, the terms' sum being −0
   * only when every term is −0; NaN (always the quiet NaN 0x7ff8…) and ±inf as without it. The same bits on
   * every path, kernel, thread count and chunking. Costs a certified compensated pass (1.6–2.0× the default
   * mode's time at k = 8 on ordinary data, see the README) and, for the rare elements it cannot certify
   * (heavy cancellation), an exact BigInt sum: linear in k·n. Sources: Knuth (TwoSum), Dekker (TwoProduct),
   * Ogita–Rump–Oishi 2005, Sterbenz 1974; src/kernels/exact-sum.ts.
   * `false`: the default mode (a float64 sequential sum divided once; float32 results compensated).
   * @default false
   */
  exact?: boolean;
}

/** Validated options, ready for the kernels. */
export interface ResolvedOptions {
  readonly weights: Float64Array | null;
  readonly nanOmit: boolean;
  readonly dtype: FloatDType | undefined;
  readonly out: Tensor | undefined;
  /** The exact mode (`exact: true`). */
  readonly exact: boolean;
}

/**
 * Checks options against the number of inputs k.
 *
 * @throws {OptionError} for an options value that is not an object, weights of the wrong count, a
 *   non-finite weight, weights summing to zero or whose magnitudes overflow, an unknown `nan` policy, an
 *   unsupported `dtype` or an `exact` that is not a boolean.
 */
export function resolveOptions(options: unknown, k: number, what = '`options`'): ResolvedOptions {
  if (options === undefined || options === null)
    return { weights: null, nanOmit: false, dtype: undefined, out: undefined, exact: false };
  if (typeof options !== 'object')
    throw new OptionError(`Expected ${what} to be an object, got ${describe(options)}`);
  const o = options as MeanFusionOptions;
  let weights: Float64Array | null = null;
  if (o.weights !== undefined) {
    if (!Array.isArray(o.weights) && !(o.weights instanceof Float64Array)) {
      throw new OptionError(
        `Expected \`weights\` to be an array of ${k} numbers, got ${describe(o.weights)}`,
      );
    }
    if (o.weights.length !== k) {
      throw new OptionError(
        `Expected \`weights\` to have one weight per input (${k}), got ${o.weights.length}`,
      );
    }
    weights = new Float64Array(k);
    // Σw compensated exactly as the kernels compute it, and Σ|w|, which bounds every partial sum.
    let hi = 0;
    let lo = 0;
    let magnitude = 0;
    for (let j = 0; j < k; j++) {
      const w = o.weights[j];
      if (typeof w !== 'number' || !Number.isFinite(w)) {
        throw new OptionError(`Expected \`weights[${j}]\` to be a finite number, got ${describe(w)}`);
      }
      weights[j] = w;
      const u = hi + w;
      const y = u - hi;
      lo += hi - (u - y) + (w - y);
      hi = u;
      magnitude += Math.abs(w);
    }
    if (!Number.isFinite(magnitude)) {
      throw new OptionError(
        'Expected `weights` whose magnitudes sum to a finite number, got a sum that overflows',
      );
    }
    if (hi + lo === 0) throw new OptionError('Expected `weights` to have a non-zero sum, got a sum of 0');
  }
  const nan = o.nan ?? 'propagate';
  if (nan !== 'propagate' && nan !== 'omit') {
    throw new OptionError(`Expected \`nan\` to be 'propagate' or 'omit', got ${describe(nan)}`);
  }
  if (o.dtype !== undefined && !isFloatDType(o.dtype)) {
    throw new OptionError(
      `Expected \`dtype\` to be 'float64', 'float32', 'float16' or 'bfloat16', got ${describe(o.dtype)}`,
    );
  }
  if (o.exact !== undefined && typeof o.exact !== 'boolean') {
    throw new OptionError(`Expected \`exact\` to be a boolean, got ${describe(o.exact)}`);
  }
  return { weights, nanOmit: nan === 'omit', dtype: o.dtype, out: o.out, exact: o.exact === true };
}
