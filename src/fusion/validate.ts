/** Validation of a fusion's inputs and output, shared by every entry point (sync, pool, operators). */
import { EmptyInputError, OptionError, ShapeMismatchError } from '../errors.js';
import { heapAddress } from '../kernels/heap/memory.js';
import { halfDTypes, type MeanKernelParams } from '../kernels/params.js';
import { assertKnownKeys } from '../option-keys.js';
import { type FloatDType, isFloatDType } from '../tensor/dtype.js';
import { isHalfDType } from '../tensor/half.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { type AnyTensor, toTensor } from '../tensor/tensor.js';
import { type ResolvedOptions, resolveOptions } from './options.js';

/** A fusion job after validation: k checked tensors of one shape, the output dtype and kernel options. */
export interface FusionPlan {
  readonly inputs: readonly AnyTensor[];
  readonly shape: readonly number[];
  readonly dtype: FloatDType;
  readonly options: ResolvedOptions;
}

/**
 * The result dtype of a mean: the inputs' dtype when every input is float32, every input float16 or every
 * input bfloat16; float32 when only float16 and bfloat16 mix (float32 holds both exactly); float64
 * otherwise (numpy's rule for float32, integers and mixtures).
 */
export function resultDType(inputs: readonly { readonly dtype: string }[]): FloatDType {
  if (inputs.length === 0) return 'float32';
  const first = inputs[0].dtype;
  if (inputs.every((t) => t.dtype === first) && (first === 'float32' || isHalfDType(first))) {
    return first as FloatDType;
  }
  return inputs.every((t) => isHalfDType(t.dtype)) ? 'float32' : 'float64';
}

/** The kernel parameters of a validated plan (with `half` only when a half dtype is involved). */
export function kernelParams(plan: FusionPlan): MeanKernelParams {
  const { weights, nanOmit, exact } = plan.options;
  const half = halfDTypes(
    plan.inputs.map((t) => t.dtype),
    plan.dtype,
  );
  return {
    weights,
    nanOmit,
    ...(half === undefined ? {} : { half }),
    ...(exact ? { exact: true } : {}),
  };
}

/** The option names of `meanFusion`. */
export const FUSION_KEYS: readonly string[] = ['weights', 'nan', 'dtype', 'out', 'exact'];

/**
 * Validates inputs and options of a fusion.
 *
 * @param where - The function whose options these are (named in errors).
 * @param extraKeys - Option names the caller accepts besides {@link FUSION_KEYS} (it checks them itself).
 *
 * @throws {EmptyInputError} when `inputs` is empty.
 * @throws {ShapeMismatchError} when an input's shape differs from `inputs[0]`'s (names the index and both shapes).
 * @throws {TensorError | DTypeError} for a malformed input.
 * @throws {OptionError} for bad or unknown options, or an `out` of the wrong shape or dtype.
 */
export function planFusion(
  inputs: unknown,
  options: unknown,
  where = 'meanFusion',
  extraKeys: readonly string[] = [],
): FusionPlan {
  if (!Array.isArray(inputs)) {
    throw new OptionError(
      `Expected \`inputs\` to be an array of tensors, got ${inputs === null ? 'null' : typeof inputs}`,
    );
  }
  if (inputs.length === 0) throw new EmptyInputError();
  // The same object may be passed many times (e.g. one frame repeated): validate it once.
  const seen = new Map<unknown, AnyTensor>();
  const tensors = inputs.map((x, i) => {
    let t = seen.get(x);
    if (t === undefined) {
      t = toTensor(x, `inputs[${i}]`);
      if (typeof x === 'object' && x !== null) seen.set(x, t);
    }
    return t;
  });
  const shape = tensors[0].shape;
  for (let i = 1; i < tensors.length; i++) {
    const t = tensors[i];
    if (!sameShape(t.shape, shape)) {
      throw new ShapeMismatchError(
        `inputs[${i}] has shape ${formatShape(t.shape)} but inputs[0] has shape ${formatShape(shape)}; all inputs must share one shape`,
      );
    }
  }
  if (typeof options === 'object' && options !== null) {
    assertKnownKeys(options, [...FUSION_KEYS, ...extraKeys], where);
  }
  const resolved = resolveOptions(options, tensors.length);
  let dtype = resolved.dtype ?? resultDType(tensors);
  if (resolved.out !== undefined) {
    const out = toTensor(resolved.out, '`out`');
    if (!isFloatDType(out.dtype)) {
      throw new OptionError(
        `Expected \`out\` to be a float tensor (float32 or float64, float16 or bfloat16), got ${out.dtype}`,
      );
    }
    if (resolved.dtype !== undefined && out.dtype !== resolved.dtype) {
      throw new OptionError(`\`out\` is ${out.dtype} but \`dtype\` is ${resolved.dtype}`);
    }
    if (!sameShape(out.shape, shape)) {
      throw new ShapeMismatchError(
        `\`out\` has shape ${formatShape(out.shape)} but the inputs have shape ${formatShape(shape)}`,
      );
    }
    if (tensors.some((t) => overlaps(t, out))) {
      throw new OptionError('`out` must not share memory with an input');
    }
    dtype = out.dtype;
    // Keep the caller's object: the result is the very `out` they passed.
    return { inputs: tensors, shape, dtype, options: { ...resolved, out: resolved.out } };
  }
  return { inputs: tensors, shape, dtype, options: resolved };
}

/**
 * True when two tensors share memory: the same buffer object, or both in the kernel heap (whose buffer
 * object changes each time it grows, while byte offsets stay heap addresses).
 */
function overlaps(a: AnyTensor, b: AnyTensor): boolean {
  let a0 = a.data.byteOffset;
  let b0 = b.data.byteOffset;
  if (a.data.buffer !== b.data.buffer) {
    a0 = heapAddress(a.data);
    b0 = heapAddress(b.data);
    if (a0 < 0 || b0 < 0) return false;
  }
  return a0 < b0 + b.data.byteLength && b0 < a0 + a.data.byteLength;
}
