/** Parameters of a mean-fusion kernel run, already validated (they cross to worker threads as-is). */
import type { HalfDType } from '../tensor/half.js';

/** Which inputs and whether the output are float16/bfloat16 bit patterns (`Uint16Array`); `null` = not half. */
export interface HalfKernelDTypes {
  /** Per input: its half dtype, or `null` for an input read as its typed array says. */
  readonly inputs: readonly (HalfDType | null)[];
  /** The output's half dtype, or `null` for a float32/float64 output. */
  readonly out: HalfDType | null;
}

/** What the kernels need besides the inputs and the output. Plain data: structured-clone safe. */
export interface MeanKernelParams {
  /** One float64 weight per input, or `null` for the plain mean. */
  readonly weights: Float64Array | null;
  /** Skip NaN inputs per element (numpy's `nanmean`) instead of propagating them. */
  readonly nanOmit: boolean;
  /** Set when an input or the output is float16/bfloat16 (see `half-range.ts`); absent otherwise. */
  readonly half?: HalfKernelDTypes;
  /** The exact mode: every result correctly rounded from the exact mean (`exact-range.ts`). */
  readonly exact?: boolean;
}

/**
 * The `half` parameter for inputs of dtypes `inputs` and an output of dtype `out`, or `undefined` when none
 * of them is float16/bfloat16 (then the kernels run exactly as before).
 */
export function halfDTypes(inputs: readonly string[], out: string): HalfKernelDTypes | undefined {
  const h = (d: string): HalfDType | null => (d === 'float16' || d === 'bfloat16' ? d : null);
  const ins = inputs.map(h);
  const o = h(out);
  return o === null && ins.every((d) => d === null) ? undefined : { inputs: ins, out: o };
}
