/** Parameters of a mean-fusion kernel run, already validated (they cross to worker threads as-is). */

/** What the kernels need besides the inputs and the output. Plain data: structured-clone safe. */
export interface MeanKernelParams {
  /** One float64 weight per input, or `null` for the plain mean. */
  readonly weights: Float64Array | null;
  /** Skip NaN inputs per element (numpy's `nanmean`) instead of propagating them. */
  readonly nanOmit: boolean;
}
