/** The options shared by the stream operators (`runningMean`, `windowMean`): their types and their check. */
import { describe, OptionError } from '../../errors.js';
import { type NanPolicy, resolveOptions } from '../../fusion/options.js';
import type { DType, FloatDType } from '../../tensor/dtype.js';

/** Options shared by the stream operators. */
export interface StreamMeanOptions {
  /**
   * `'propagate'`: a NaN input makes that element NaN. `'omit'`: NaN inputs are skipped (numpy `nanmean`).
   * @default 'propagate'
   */
  nan?: NanPolicy;
  /**
   * Output dtype. Defaults to float32 when the stream's tensors are float32, float64 otherwise.
   */
  dtype?: FloatDType;
}

/** Stream options after validation. */
export interface ResolvedStreamOptions {
  readonly nanOmit: boolean;
  readonly dtype: FloatDType | undefined;
}

/**
 * Checks the options of a stream operator.
 *
 * @param extra - Names of the operator's own options (checked by the caller).
 * @throws {OptionError} when `options` is not an object, has `weights` or `out`, an unknown key, or a bad
 *   `nan` or `dtype` (float16 and bfloat16 included: the stream operators emit float32 or float64).
 */
export function resolveStreamOptions(
  options: unknown,
  operator: string,
  extra: readonly string[],
): ResolvedStreamOptions {
  if (options === undefined || options === null) return { nanOmit: false, dtype: undefined };
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new OptionError(`Expected the options of ${operator} to be an object, got ${describe(options)}`);
  }
  const o = options as Record<string, unknown>;
  if (o.weights !== undefined) {
    throw new OptionError(
      `${operator} takes no \`weights\` option: give each stream item a weight, as \`{ tensor, weight }\``,
    );
  }
  if (o.out !== undefined) {
    throw new OptionError(
      `${operator} takes no \`out\` option: every emission is a new tensor, never written again`,
    );
  }
  for (const key of Object.keys(o)) {
    if (key !== 'nan' && key !== 'dtype' && !extra.includes(key)) {
      throw new OptionError(
        `Unknown option \`${key}\` of ${operator}; expected one of ${['nan', 'dtype', ...extra].join(', ')}`,
      );
    }
  }
  const resolved = resolveOptions({ nan: o.nan, dtype: o.dtype }, 0);
  if (resolved.dtype === 'float16' || resolved.dtype === 'bfloat16') {
    throw new OptionError(
      `${operator} emits float32 or float64 tensors, got \`dtype\` '${resolved.dtype}': ask for 'float32' ` +
        'and convert the emissions with toHalfBits',
    );
  }
  return { nanOmit: resolved.nanOmit, dtype: resolved.dtype };
}

/** The output dtype of a stream whose tensors have dtype `dtype` (numpy's rule, as `meanFusion`). */
export function streamDType(dtype: DType, options: ResolvedStreamOptions): FloatDType {
  return options.dtype ?? (dtype === 'float32' ? 'float32' : 'float64');
}
