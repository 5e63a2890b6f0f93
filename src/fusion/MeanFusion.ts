/**
 * tinyBIG-compatible face: a `mean_fusion` object with a name, `dims`, `calculate_n`, `calculate_l`, and
 * pre/post-process function lists, as in tinyBIG's `fusion` base class and `metric_fusion`
 * (`tinybig/fusion/metric_fusion.py`, `tinybig/module/base_fusion.py`).
 */
import { describe, EmptyInputError, OptionError, ShapeMismatchError } from '../errors.js';
import { assertKnownKeys } from '../option-keys.js';
import type { FusionPool } from '../pool/FusionPool.js';
import { allocate } from '../tensor/alloc.js';
import { DTYPE_CTORS, isBigIntArray, type TypedArray } from '../tensor/dtype.js';
import { halfToFloat32, isHalfDType } from '../tensor/half.js';
import { formatShape, sameShape, shapeSize } from '../tensor/shape.js';
import { type AnyTensor, type Tensor, type TensorLike, toTensor } from '../tensor/tensor.js';
import { meanFusion } from './mean-fusion.js';
import type { NanPolicy } from './options.js';

/**
 * A function applied to a tensor (tinyBIG's pre/post-process functions). Declared as a method so that a
 * function typed for number tensors, `(x: Tensor) => Tensor`, is accepted too; an int64 stack reaches it
 * with BigInt data.
 */
export type TensorFunction = { bivariant(x: AnyTensor): AnyTensor }['bivariant'];

/** Constructor options of {@link MeanFusion}. */
export interface MeanFusionConfig {
  /** @default 'mean_fusion' */
  name?: string;
  /** Dimensions of the k inputs (tinyBIG's `dims`), used by {@link MeanFusion.calculateN}. */
  dims?: readonly number[];
  /** One weight per input; see {@link MeanFusionOptions.weights}. */
  weights?: readonly number[];
  /** @default 'propagate' */
  nan?: NanPolicy;
  /** The exact mode; see {@link MeanFusionOptions.exact}. @default false */
  exact?: boolean;
  /** Applied in order to the stacked input, a tensor of shape (k, ...inputShape). */
  preprocess?: TensorFunction | readonly TensorFunction[];
  /** Applied in order to the fused output. */
  postprocess?: TensorFunction | readonly TensorFunction[];
}

/** JSON-serialisable configuration returned by {@link MeanFusion.toConfig}. */
export interface MeanFusionJSON {
  name: string;
  dims: number[] | null;
  weights: number[] | null;
  nan: NanPolicy;
  exact: boolean;
  preprocess: string[];
  postprocess: string[];
}

function asList(fns: TensorFunction | readonly TensorFunction[] | undefined, what: string): TensorFunction[] {
  const list = fns === undefined ? [] : typeof fns === 'function' ? [fns] : [...fns];
  list.forEach((f, i) => {
    if (typeof f !== 'function')
      throw new OptionError(`Expected \`${what}[${i}]\` to be a function, got ${typeof f}`);
  });
  return list;
}

/**
 * tinyBIG's `mean_fusion`: the element-wise mean of k tensors of one shape.
 *
 * `forward(x)` stacks the inputs into shape (k, ...), applies the `preprocess` functions, takes the mean
 * along axis 0 with {@link meanFusion}, and applies the `postprocess` functions. With no preprocess function
 * nothing is stacked (no copy).
 */
export class MeanFusion {
  /** Name of this fusion, `'mean_fusion'` by default. */
  readonly name: string;
  /** Dimensions of the inputs, if configured. */
  readonly dims: readonly number[] | undefined;
  readonly weights: readonly number[] | undefined;
  readonly nan: NanPolicy;
  readonly exact: boolean;
  readonly preprocessFunctions: readonly TensorFunction[];
  readonly postprocessFunctions: readonly TensorFunction[];

  /** @throws {OptionError} for an unknown config key, a non-string name, bad dims or non-function hooks. */
  constructor(config: MeanFusionConfig = {}) {
    if (typeof config !== 'object' || config === null) {
      throw new OptionError(`Expected the config of MeanFusion to be an object, got ${describe(config)}`);
    }
    assertKnownKeys(
      config,
      ['name', 'dims', 'weights', 'nan', 'exact', 'preprocess', 'postprocess'],
      'MeanFusion',
    );
    const name = config.name ?? 'mean_fusion';
    if (typeof name !== 'string')
      throw new OptionError(`Expected \`name\` to be a string, got ${typeof name}`);
    if (
      config.dims !== undefined &&
      (!Array.isArray(config.dims) || !config.dims.every((d) => Number.isSafeInteger(d) && d >= 0))
    ) {
      throw new OptionError(
        `Expected \`dims\` to be an array of non-negative integers, got ${JSON.stringify(config.dims)}`,
      );
    }
    if (config.nan !== undefined && config.nan !== 'propagate' && config.nan !== 'omit') {
      throw new OptionError(
        `Expected \`nan\` to be 'propagate' or 'omit', got ${JSON.stringify(config.nan)}`,
      );
    }
    if (config.exact !== undefined && typeof config.exact !== 'boolean') {
      throw new OptionError(`Expected \`exact\` to be a boolean, got ${describe(config.exact)}`);
    }
    this.name = name;
    this.exact = config.exact ?? false;
    this.dims = config.dims === undefined ? undefined : Object.freeze([...config.dims]);
    this.weights = config.weights === undefined ? undefined : Object.freeze([...config.weights]);
    this.nan = config.nan ?? 'propagate';
    this.preprocessFunctions = Object.freeze(asList(config.preprocess, 'preprocess'));
    this.postprocessFunctions = Object.freeze(asList(config.postprocess, 'postprocess'));
  }

  /**
   * tinyBIG's `calculate_n`: the common dimension of the inputs.
   *
   * @param dims - Dimensions to check; defaults to the configured `dims`.
   * @throws {OptionError} when no dims are given or configured, or they are not all equal.
   */
  calculateN(dims: readonly number[] | undefined = this.dims): number {
    if (dims === undefined || dims.length === 0) {
      throw new OptionError('calculateN needs `dims`: pass them or configure them in the constructor');
    }
    if (!dims.every((d) => d === dims[0])) {
      throw new OptionError(`calculateN expects equal dims, got ${JSON.stringify(dims)}`);
    }
    return dims[0];
  }

  /** tinyBIG's `calculate_l`: the number of learnable parameters, always 0 for a mean. */
  calculateL(): number {
    return 0;
  }

  /** Runs the preprocess functions over the stack (k, ...shape) and returns the k slices along axis 0. */
  protected preprocess(x: readonly TensorLike[]): readonly AnyTensor[] {
    if (x.length === 0)
      throw new EmptyInputError('The input x cannot be empty: expected at least one tensor');
    const tensors = x.map((t, i) => toTensor(t, `x[${i}]`));
    if (this.preprocessFunctions.length === 0) return tensors;
    const shape = tensors[0].shape;
    tensors.forEach((t, i) => {
      if (!sameShape(t.shape, shape)) {
        throw new ShapeMismatchError(
          `x[${i}] has shape ${formatShape(t.shape)} but x[0] has shape ${formatShape(shape)}`,
        );
      }
    });
    const dtype = tensors.every((t) => t.dtype === tensors[0].dtype) ? tensors[0].dtype : 'float64';
    const stacked = allocate(dtype, [tensors.length, ...shape]);
    const size = shapeSize(shape);
    const big = isBigIntArray(stacked.data);
    for (const [i, t] of tensors.entries()) {
      // A stack of one dtype copies as is; a mixed stack is float64 (as torch.stack promotes), so int64
      // values beyond 2^53 round there. Fuse mixed int64 inputs without preprocess to keep them exact.
      // Half-precision bits stacked with other dtypes are decoded (exactly) to their values first.
      const data =
        isHalfDType(t.dtype) && t.dtype !== dtype
          ? halfToFloat32(t.data as Uint16Array, t.dtype)
          : big || !isBigIntArray(t.data)
            ? t.data
            : Float64Array.from(t.data, Number);
      (stacked.data as TypedArray).set(data as TypedArray, i * size);
    }
    let y: AnyTensor = stacked;
    for (const f of this.preprocessFunctions) y = toTensor(f(y), 'the result of a preprocess function');
    if (y.shape.length === 0)
      throw new ShapeMismatchError('a preprocess function returned a 0-d tensor; expected shape (k, ...)');
    const k = y.shape[0];
    const inner = y.shape.slice(1);
    const step = shapeSize(inner);
    const Ctor = DTYPE_CTORS[y.dtype];
    return Array.from({ length: k }, (_, i) => ({
      data: new Ctor(y.data.buffer, y.data.byteOffset + i * step * Ctor.BYTES_PER_ELEMENT, step),
      shape: inner,
      dtype: y.dtype,
    }));
  }

  /** Runs the postprocess functions over the fused tensor. */
  protected postprocess(fused: Tensor): Tensor {
    let y: AnyTensor = fused;
    for (const f of this.postprocessFunctions) y = toTensor(f(y), 'the result of a postprocess function');
    // A float tensor unless a postprocess function returned another dtype.
    return y as Tensor;
  }

  /**
   * Fuses k tensors: preprocess the stack, mean along axis 0 ({@link meanFusion}), postprocess.
   *
   * @param x - k ≥ 1 tensors of one shape.
   * @returns The fused tensor (shape of one input, unless a hook changes it).
   * @throws {EmptyInputError} when `x` is empty; {@link ShapeMismatchError} when shapes differ; any error of
   *   {@link meanFusion}.
   */
  forward(x: readonly TensorLike[]): Tensor {
    const parts = this.preprocess(x);
    return this.postprocess(meanFusion(parts, { weights: this.weights, nan: this.nan, exact: this.exact }));
  }

  /**
   * {@link MeanFusion.forward} with the mean computed on a worker pool ({@link FusionPool.fuse}): bitwise
   * the same result. The pre- and postprocess functions run on the calling thread.
   *
   * @param x - k ≥ 1 tensors of one shape.
   * @param options - `pool`: the pool to run on; `signal`: aborting rejects with `signal.reason`.
   * @throws {EmptyInputError} when `x` is empty; {@link ShapeMismatchError} when shapes differ; any error of
   *   {@link FusionPool.fuse} (as a rejection).
   */
  async forwardAsync(
    x: readonly TensorLike[],
    options: { pool: FusionPool; signal?: AbortSignal },
  ): Promise<Tensor> {
    if (typeof options !== 'object' || options === null || typeof options.pool?.fuse !== 'function') {
      throw new OptionError('Expected `options.pool` to be a FusionPool');
    }
    assertKnownKeys(options, ['pool', 'signal'], 'MeanFusion.forwardAsync');
    const parts = this.preprocess(x);
    const fused = await options.pool.fuse(parts, {
      weights: this.weights,
      nan: this.nan,
      exact: this.exact,
      signal: options.signal,
    });
    return this.postprocess(fused);
  }

  /** JSON-serialisable configuration (functions are listed by name). */
  toConfig(): MeanFusionJSON {
    return {
      name: this.name,
      dims: this.dims === undefined ? null : [...this.dims],
      weights: this.weights === undefined ? null : [...this.weights],
      nan: this.nan,
      exact: this.exact,
      preprocess: this.preprocessFunctions.map((f) => f.name || 'anonymous'),
      postprocess: this.postprocessFunctions.map((f) => f.name || 'anonymous'),
    };
  }
}
