/** Validation of a fusion's inputs and output, shared by every entry point (sync, pool, operators). */
import { EmptyInputError, OptionError, ShapeMismatchError } from '../errors.js';
import { heapAddress } from '../kernels/heap/memory.js';
import { assertKnownKeys } from '../option-keys.js';
import type { FloatDType } from '../tensor/dtype.js';
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

/** numpy's result type for a mean: float32 only when every input is float32. */
export function resultDType(inputs: readonly { readonly dtype: string }[]): FloatDType {
  for (const t of inputs) if (t.dtype !== 'float32') return 'float64';
  return 'float32';
}

/** The option names of `meanFusion`. */
export const FUSION_KEYS: readonly string[] = ['weights', 'nan', 'dtype', 'out'];

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
    if (out.dtype !== 'float32' && out.dtype !== 'float64') {
      throw new OptionError(`Expected \`out\` to be a float32 or float64 tensor, got ${out.dtype}`);
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
