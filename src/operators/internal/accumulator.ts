/**
 * Shared logic of the streaming operators: reading and checking stream items, checking options, and the two
 * accumulators (the exact running mean and the sliding-window mean).
 *
 * The running accumulator keeps, per element, the very state the scalar kernel (`meanElement` in
 * src/kernels/scalar.ts) builds while it walks the inputs in order: the sum s (started from the first input,
 * so −0 survives), the TwoSum compensation c for float32 outputs, the compensated weight sum (wHi, wLo), and
 * for `nan: 'omit'` whether the element has started. After n pushes, finishing that state performs the very
 * floating-point operations `meanFusion` performs on the n inputs, so the bits agree.
 *
 * The kernel's overflow-safe pass re-reads every input scaled by 2^-e, where e grows with k (or Σ|w|).
 * A stream cannot re-read, so an element whose plain sum stops being finite switches to a scaled state,
 * derived from its last finite state: scaling by a power of two commutes exactly with every addition
 * (sums of multiples of 2^-1074 below 2^-1022 are exact) and with products and divisions whose results stay
 * normal, so s·2^-e carries on exactly as the kernel's scaled pass would have, and the state is rescaled when
 * e grows. The one case this cannot reproduce bit for bit is an element that mixes values near the overflow
 * threshold with values below about 2^-960, which the kernel's scaled pass rounds into subnormals.
 */
import { DTypeError, describe, EmptyInputError, OptionError, ShapeMismatchError } from '../../errors.js';
import { type NanPolicy, resolveOptions } from '../../fusion/options.js';
import { productError, productErrorAny, roundQuotientToFloat32, SPLIT_LIMIT } from '../../kernels/exact.js';
import { meanRange } from '../../kernels/mean-range.js';
import {
  accumulateNative,
  addCompensatedNative,
  finishNativeF32,
  finishNativeF64,
  finishNativeF64c,
  nativeStream,
} from '../../kernels/native-stream.js';
import { meanElement, scaleExponentFor } from '../../kernels/scalar.js';
import { rescaleFactors, scaleWeight, weightExponentForMax } from '../../kernels/weight-scale.js';
import {
  DTYPE_CTORS,
  type DType,
  type FloatArray,
  type FloatDType,
  type TypedArray,
} from '../../tensor/dtype.js';
import { formatShape, sameShape, shapeSize } from '../../tensor/shape.js';
import { type AnyTensor, type Tensor, type TensorLike, toTensor } from '../../tensor/tensor.js';

/** A stream item that carries a weight (e.g. a federated client's update weighted by its sample count). */
export interface WeightedTensor {
  /** The tensor (or nested number arrays). */
  readonly tensor: TensorLike;
  /** A finite weight; the stream's result is Σ wᵢ·xᵢ / Σ wᵢ. */
  readonly weight: number;
}

/** An item of a stream given to `runningMean` or `windowMean`: a tensor, or a tensor with a weight. */
export type StreamItem = TensorLike | WeightedTensor;

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
 *   `nan` or `dtype`.
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
  return { nanOmit: resolved.nanOmit, dtype: resolved.dtype };
}

/** A stream item after reading: a checked tensor and its weight (1 for unweighted streams). */
export interface ReadItem {
  readonly tensor: AnyTensor;
  readonly weight: number;
  /** Position in the stream, from 0. */
  readonly position: number;
}

function isWeighted(item: unknown): item is WeightedTensor {
  return typeof item === 'object' && item !== null && !Array.isArray(item) && 'tensor' in item;
}

/**
 * Reads the items of one subscription's stream and checks that they agree with the first: same kind
 * (weighted or not), same shape, same dtype.
 */
export class StreamReader {
  #position = 0;
  #first: AnyTensor | undefined;
  #weighted = false;

  /** True when the stream carries weights (decided by its first item). */
  get weighted(): boolean {
    return this.#weighted;
  }

  /**
   * @throws {OptionError} when a weighted item follows plain ones or the other way round, or a weight is not
   *   a finite number.
   * @throws {ShapeMismatchError} when the shape differs from the first item's (names both and the position).
   * @throws {DTypeError} when the dtype differs from the first item's, is float16/bfloat16, or the data type
   *   is unsupported.
   * @throws {TensorError} for a malformed tensor.
   */
  read(item: unknown): ReadItem {
    const position = this.#position++;
    const name = `stream item ${position}`;
    const weighted = isWeighted(item);
    if (position === 0) this.#weighted = weighted;
    else if (weighted !== this.#weighted) {
      throw new OptionError(
        weighted
          ? `${name} is a weighted item ({ tensor, weight }) but stream item 0 was a plain tensor; a stream is weighted throughout or not at all`
          : `${name} is a plain tensor but stream item 0 was a weighted item ({ tensor, weight }); a stream is weighted throughout or not at all`,
      );
    }
    let weight = 1;
    let value: unknown = item;
    if (weighted) {
      weight = item.weight;
      if (typeof weight !== 'number' || !Number.isFinite(weight)) {
        throw new OptionError(
          `Expected the weight of ${name} to be a finite number, got ${describe(weight)}`,
        );
      }
      value = item.tensor;
    }
    const tensor = toTensor(value, name);
    if (tensor.dtype === 'float16' || tensor.dtype === 'bfloat16') {
      // The running state would need the midpoint resolution of half-range.ts; not wired in yet.
      throw new DTypeError(
        `${name} is ${tensor.dtype}: runningMean and windowMean do not take float16/bfloat16 streams yet; decode them with halfToFloat32 (exact) or use fuseMean`,
      );
    }
    const first = this.#first;
    if (first === undefined) this.#first = tensor;
    else {
      if (!sameShape(tensor.shape, first.shape)) {
        throw new ShapeMismatchError(
          `${name} has shape ${formatShape(tensor.shape)} but stream item 0 has shape ${formatShape(first.shape)}; every tensor of a stream must share one shape`,
        );
      }
      if (tensor.dtype !== first.dtype) {
        throw new DTypeError(
          `${name} has dtype ${tensor.dtype} (shape ${formatShape(tensor.shape)}) but stream item 0 has dtype ${first.dtype} (shape ${formatShape(first.shape)}); every tensor of a stream must share one dtype`,
        );
      }
    }
    return { tensor, weight, position };
  }
}

/** The output dtype of a stream whose tensors have dtype `dtype` (numpy's rule, as `meanFusion`). */
export function streamDType(dtype: DType, options: ResolvedStreamOptions): FloatDType {
  return options.dtype ?? (dtype === 'float32' ? 'float32' : 'float64');
}

/** The kernel's condition for a product's error term: a finite product of operands Dekker's split handles. */
function splittable(w: number, x: number, p: number): boolean {
  return p - p === 0 && Math.abs(x) < SPLIT_LIMIT && Math.abs(w) < SPLIT_LIMIT;
}

/** A zero-filled output tensor; `shape` is an already checked, frozen shape. */
function newTensor(dtype: FloatDType, shape: readonly number[]): Tensor {
  const n = shapeSize(shape);
  return { data: dtype === 'float32' ? new Float32Array(n) : new Float64Array(n), shape, dtype };
}

/** The scaled state of an element whose plain sum is no longer finite: (s, c) times 2^-exponent. */
interface Scaled {
  s: number;
  c: number;
}

/**
 * The exact running mean: O(one tensor) state, O(1) work per element per push, and after n pushes
 * {@link RunningAccumulator.result} is bitwise `meanFusion` of the n tensors (with their weights as
 * `weights`, when weighted).
 */
export class RunningAccumulator {
  readonly shape: readonly number[];
  readonly dtype: FloatDType;
  readonly #n: number;
  readonly #f32: boolean;
  readonly #omit: boolean;
  readonly #weighted: boolean;
  /** Pushes so far. */
  #k = 0;
  /** Σ|w| in push order (the overflow-safe scale's input). */
  #absW = 0;
  /** Σ w in push order, as `meanFusion` checks it for a zero sum. */
  #total = 0;
  /** The compensated weight sum (wHi, wLo) when it is the same for every element (no NaN omission). */
  #wHi = 0;
  #wLo = 0;
  readonly #s: Float64Array;
  readonly #c: Float64Array;
  /** Per element, for `nan: 'omit'`: has a non-NaN input been seen, and the weight sum of those. */
  readonly #started: Uint8Array;
  readonly #wHiE: Float64Array;
  readonly #wLoE: Float64Array;
  /** Elements whose plain sum overflowed (or met an infinity or NaN), with their scaled state. */
  readonly #scaled = new Map<number, Scaled>();
  #exp = 1;
  /** Weighted float32: the kernel's weight scale 2^σ (exact.ts float32Weights), from the largest |w| so far. */
  #sigma = 0;
  #wMax = 0;

  /**
   * @param first - The stream's first tensor (only its shape and dtype are read here).
   * @param weighted - Whether pushes carry weights (the weighted kernel path, as `meanFusion` with `weights`).
   */
  constructor(first: AnyTensor, weighted: boolean, options: ResolvedStreamOptions) {
    this.shape = first.shape;
    this.dtype = streamDType(first.dtype, options);
    this.#n = shapeSize(first.shape);
    this.#f32 = this.dtype === 'float32';
    this.#omit = options.nanOmit;
    this.#weighted = weighted;
    const n = this.#n;
    this.#s = new Float64Array(n);
    this.#c = new Float64Array(this.#f32 ? n : 0);
    this.#started = new Uint8Array(this.#omit ? n : 0);
    this.#wHiE = new Float64Array(this.#omit ? n : 0);
    this.#wLoE = new Float64Array(this.#omit ? n : 0);
  }

  /** Number of tensors pushed. */
  get count(): number {
    return this.#k;
  }

  /** Σ wᵢ of the pushes in order (the number of pushes when unweighted). */
  get weightTotal(): number {
    return this.#total;
  }

  /** Adds one tensor's data (same shape and dtype as the first; unchecked) with weight `w` (1 if unweighted). */
  push(x: TypedArray, w: number): void {
    const first = this.#k === 0;
    const given = w;
    if (this.#weighted && this.#f32) w = this.#kernelWeight(w);
    this.#k++;
    this.#absW += Math.abs(w);
    this.#total += given;
    const exp = scaleExponentFor(this.#weighted ? this.#absW : this.#k);
    if (exp > this.#exp) {
      const f = 2 ** (this.#exp - exp);
      for (const st of this.#scaled.values()) {
        st.s *= f;
        st.c *= f;
      }
    }
    this.#exp = Math.max(this.#exp, exp);
    if (!this.#omit) {
      if (first) this.#wHi = w;
      else {
        const u = this.#wHi + w;
        const y = u - this.#wHi;
        this.#wLo += this.#wHi - (u - y) + (w - y);
        this.#wHi = u;
      }
    }
    if (this.#weighted || this.#omit) this.#pushGeneral(x, w, first);
    else if (this.#pushNative(x, first)) return;
    else if (this.#f32) this.#pushCompensated(x, first);
    else this.#pushPlain(x, first);
  }

  /** The native stream kernel for this stream's dtype (null: the JavaScript loops run), once looked up. */
  #native: ReturnType<typeof nativeStream> | undefined;
  #spillInput: TypedArray | undefined;
  #spillFirst = false;
  /** An element whose native state stopped being finite continues on the scaled path. */
  readonly #onSpill = (i: number, olds: number, oldc: number): void => {
    const x = this.#spillInput as TypedArray;
    this.#scaledStep(i, !this.#spillFirst, olds, oldc, x[i], 1);
  };

  /**
   * Plain mean on the native kernel: the steps of #pushPlain / #pushCompensated, vectorized; elements whose
   * state stops being finite continue on the scaled path from their last finite state.
   * @returns false (nothing done) when the native kernel is not available for `x`.
   */
  #pushNative(x: TypedArray, first: boolean): boolean {
    // The stream's dtype is fixed by its first item: look the kernel up once.
    if (this.#native === undefined) this.#native = nativeStream(x);
    const k = this.#native;
    if (k === null) return false;
    this.#spillInput = x;
    this.#spillFirst = first;
    accumulateNative(k, x, this.#s, this.#f32 ? this.#c : null, this.#n, first, this.#onSpill);
    return true;
  }

  /**
   * A weighted float32 stream's weight as the kernel uses it (src/kernels/weight-scale.ts): scaled by 2^σ,
   * σ from the largest |w| so far (0 while it stays in [2^-300, 2^300)); when σ changes, the state is
   * rescaled by the same factors the kernel multiplies its running sums by, so the bits agree.
   */
  #kernelWeight(w: number): number {
    this.#wMax = Math.max(this.#wMax, Math.abs(w));
    const sigma = weightExponentForMax(this.#wMax);
    if (sigma !== this.#sigma) {
      if (this.#k > 0) this.#rescale(sigma - this.#sigma);
      this.#sigma = sigma;
    }
    return scaleWeight(w, sigma);
  }

  /** Multiplies every sum of the state by 2^d, as the kernel's weight plan does (two factors, in order). */
  #rescale(d: number): void {
    const [a, b] = rescaleFactors(d);
    const by = (v: number) => v * a * b;
    for (const arr of [this.#s, this.#c, this.#wHiE, this.#wLoE]) {
      for (let i = 0; i < arr.length; i++) arr[i] = by(arr[i]);
    }
    this.#wHi = by(this.#wHi);
    this.#wLo = by(this.#wLo);
    this.#absW = by(this.#absW);
    // The overflow-safe exponent stays the largest seen, as the kernel's plan keeps it.
    for (const st of this.#scaled.values()) {
      st.s = by(st.s);
      st.c = by(st.c);
    }
  }

  /** Plain mean, float64 output: a sequential float64 sum (the SIMD kernel's float64 path). */
  #pushPlain(x: TypedArray, first: boolean): void {
    const s = this.#s;
    const n = this.#n;
    if (first) {
      for (let i = 0; i < n; i++) {
        const t = x[i];
        s[i] = t;
        if (t - t !== 0) this.#scaledStep(i, false, 0, 0, t, 1);
      }
      return;
    }
    for (let i = 0; i < n; i++) {
      const old = s[i];
      const t = old + x[i];
      s[i] = t;
      if (t - t !== 0) this.#scaledStep(i, true, old, 0, x[i], 1);
    }
  }

  /** Plain mean, float32 output: TwoSum-compensated (the SIMD kernel's float32 path). */
  #pushCompensated(x: TypedArray, first: boolean): void {
    const s = this.#s;
    const c = this.#c;
    const n = this.#n;
    if (first) {
      for (let i = 0; i < n; i++) {
        const v = x[i];
        s[i] = v;
        c[i] = 0;
        if (v - v !== 0) this.#scaledStep(i, false, 0, 0, v, 1);
      }
      return;
    }
    for (let i = 0; i < n; i++) {
      const v = x[i];
      const old = s[i];
      const oc = c[i];
      const t = old + v;
      const z = t - old;
      const nc = oc + (old - (t - z) + (v - z));
      s[i] = t;
      c[i] = nc;
      if (t - t !== 0 || nc - nc !== 0) this.#scaledStep(i, true, old, oc, v, 1);
    }
  }

  /** Weighted and/or NaN-omitting mean: the scalar kernel's loop body, one input at a time. */
  #pushGeneral(x: TypedArray, w: number, first: boolean): void {
    const s = this.#s;
    const c = this.#c;
    const n = this.#n;
    const f32 = this.#f32;
    const omit = this.#omit;
    const weighted = this.#weighted;
    const started = this.#started;
    const wHiE = this.#wHiE;
    const wLoE = this.#wLoE;
    for (let i = 0; i < n; i++) {
      const xi = x[i];
      if (omit && xi !== xi) continue;
      const was = omit ? started[i] === 1 : !first;
      let v = xi;
      let e = 0;
      if (weighted) {
        v = w * xi;
        if (f32) e = productErrorAny(w, xi, v); // as the kernel (scalar.ts)
      }
      const old = s[i];
      const oc = f32 ? c[i] : 0;
      let t = v;
      let nc = e;
      if (was) {
        t = old + v;
        if (f32) {
          const z = t - old;
          nc = oc + (old - (t - z) + (v - z) + e);
        }
      }
      s[i] = t;
      if (f32) c[i] = nc;
      if (t - t !== 0 || nc - nc !== 0) this.#scaledStep(i, was, old, oc, xi, w);
      if (omit) {
        if (!was) {
          started[i] = 1;
          wHiE[i] = w;
        } else {
          const hi = wHiE[i];
          const u = hi + w;
          const y = u - hi;
          wLoE[i] += hi - (u - y) + (w - y);
          wHiE[i] = u;
        }
      }
    }
  }

  /**
   * One step of the kernel's overflow-safe pass for element `i`, at the current scale. The first time, the
   * scaled state is the element's last finite state (old s, old c) scaled by 2^-exp.
   */
  #scaledStep(i: number, was: boolean, old: number, oc: number, x: number, w: number): void {
    const scale = 2 ** -this.#exp;
    let st = this.#scaled.get(i);
    if (st === undefined) {
      st = { s: old * scale, c: oc * scale };
      this.#scaled.set(i, st);
    }
    const xs = x * scale;
    let v = xs;
    let e = 0;
    if (this.#weighted) {
      v = w * xs;
      if (this.#f32) e = productErrorAny(w, xs, v);
    }
    if (!was) {
      st.s = v;
      st.c = e;
      return;
    }
    const t = st.s + v;
    if (this.#f32) {
      const z = t - st.s;
      st.c += st.s - (t - z) + (v - z) + e;
    }
    st.s = t;
  }

  /** The kernel's finish of the overflow-safe pass for a scaled state. */
  #finishScaled(s: number, c: number, wHi: number, wLo: number): number {
    if (s - s !== 0) {
      const q = s / (wHi + wLo); // ±inf takes the sign of Σw; NaN stays NaN
      return this.#f32 ? Math.fround(q) : q;
    }
    const sum = c === 0 ? s : s + c;
    const m = sum / (wLo === 0 ? wHi : wHi + wLo);
    const r = m * 2 ** this.#exp;
    return this.#f32 ? Math.fround(r) : r;
  }

  /**
   * The mean of everything pushed so far, as a new tensor (never written again).
   *
   * @throws {EmptyInputError} before the first push.
   * @throws {OptionError} when the weights pushed so far sum to zero (as `meanFusion` throws).
   */
  result(): Tensor {
    if (this.#k === 0) throw new EmptyInputError('The stream has no tensor yet: a mean needs at least one');
    if (this.#total === 0) {
      throw new OptionError(
        `The weights of stream items 0 to ${this.#k - 1} sum to 0: their weighted mean is undefined`,
      );
    }
    const out = newTensor(this.dtype, this.shape);
    const o = out.data;
    const n = this.#n;
    const s = this.#s;
    const c = this.#c;
    const f32 = this.#f32;
    if (!this.#weighted && !this.#omit) {
      const k = this.#k;
      const native = this.#native ?? null;
      if (native !== null) {
        if (f32) {
          finishNativeF32(native, s, c, o as Float32Array, k, (i) => {
            const m = (c[i] === 0 ? s[i] : s[i] + c[i]) / k;
            return m - m === 0 ? roundQuotientToFloat32(m, s[i], c[i], k, 0) : m;
          });
        } else finishNativeF64(native, s, o as Float64Array, k);
      } else if (f32) {
        for (let i = 0; i < n; i++) {
          const si = s[i];
          const ci = c[i];
          const m = (ci === 0 ? si : si + ci) / k;
          o[i] = m - m === 0 ? roundQuotientToFloat32(m, si, ci, k, 0) : m;
        }
      } else {
        for (let i = 0; i < n; i++) o[i] = s[i] / k;
      }
      for (const [i, st] of this.#scaled) o[i] = this.#finishScaled(st.s, st.c, k, 0);
      return out;
    }
    const omit = this.#omit;
    const scale = 2 ** -this.#exp;
    for (let i = 0; i < n; i++) {
      const wHi = omit ? this.#wHiE[i] : this.#wHi;
      const wLo = omit ? this.#wLoE[i] : this.#wLo;
      if ((omit && this.#started[i] === 0) || wHi + wLo === 0) {
        o[i] = Number.NaN;
        continue;
      }
      const st = this.#scaled.get(i);
      if (st !== undefined) {
        o[i] = this.#finishScaled(st.s, st.c, wHi, wLo);
        continue;
      }
      const si = s[i];
      const ci = f32 ? c[i] : 0;
      const m = (ci === 0 ? si : si + ci) / (wLo === 0 ? wHi : wHi + wLo);
      if (m - m !== 0) o[i] = this.#finishScaled(si * scale, ci * scale, wHi, wLo);
      else o[i] = f32 ? roundQuotientToFloat32(m, si, ci, wHi, wLo) : m;
    }
    return out;
  }
}

/**
 * The sliding-window mean of the last `size` pushes: a TwoSum-compensated running sum that adds the newest
 * input and subtracts the one leaving, restarted every `size` pushes from a second accumulator that has
 * only added the current window's inputs (so rounding never builds up over more than one window). Elements
 * whose running state is not finite (infinities, NaN, overflow) are recomputed exactly by the kernel over
 * the window.
 */
export class WindowAccumulator {
  readonly shape: readonly number[];
  readonly dtype: FloatDType;
  readonly #size: number;
  readonly #n: number;
  readonly #f32: boolean;
  readonly #omit: boolean;
  readonly #weighted: boolean;
  /** Copies of the window's inputs (ring buffer, oldest at #head once full) and their weights. */
  readonly #ring: TypedArray[] = [];
  readonly #ringW: Float64Array;
  #head = 0;
  #length = 0;
  /** Running (s, c) and, for omit, per-element weight sums (wHi, wLo) of the window. */
  readonly #main: Float64Array[];
  /** The same sums over the pushes since the last restart. */
  readonly #fresh: Float64Array[];
  /**
   * Per element, the largest |s| of the running sums since their fresh start (and of the fresh sums since
   * theirs): the compensation c is itself a plain float64 sum of TwoSum errors, each at most u·|s|, so after
   * at most 3·size steps its rounding error is at most (3·size)²·u²·peak. A huge input that has left the
   * window leaves that error behind; {@link WindowAccumulator.result} recomputes such elements exactly.
   * `#inexact` marks elements whose c was ever nonzero after a push: while it stays 0, every step was exact
   * (a push's add and subtract errors cancelled exactly, if any), so s is the exact sum.
   */
  readonly #peak: Float64Array;
  readonly #freshPeak: Float64Array;
  readonly #inexact: Uint8Array;
  readonly #freshInexact: Uint8Array;
  #freshCount = 0;
  readonly #dataCtor: (typeof DTYPE_CTORS)[DType];
  /** The native stream kernel for a plain window of this dtype (null: the JavaScript loop runs). */
  #native: ReturnType<typeof nativeStream> | undefined;

  constructor(size: number, first: AnyTensor, weighted: boolean, options: ResolvedStreamOptions) {
    this.#size = size;
    this.shape = first.shape;
    this.dtype = streamDType(first.dtype, options);
    this.#n = shapeSize(first.shape);
    this.#f32 = this.dtype === 'float32';
    this.#omit = options.nanOmit;
    this.#weighted = weighted;
    this.#dataCtor = DTYPE_CTORS[first.dtype];
    this.#ringW = new Float64Array(size);
    const parts = this.#omit ? 4 : 2;
    this.#main = Array.from({ length: parts }, () => new Float64Array(this.#n));
    this.#fresh = Array.from({ length: parts }, () => new Float64Array(this.#n));
    this.#peak = new Float64Array(this.#n);
    this.#freshPeak = new Float64Array(this.#n);
    this.#inexact = new Uint8Array(this.#n);
    this.#freshInexact = new Uint8Array(this.#n);
  }

  /** Inputs currently in the window (up to `size`). */
  get length(): number {
    return this.#length;
  }

  /** Adds one tensor's data (unchecked) with weight `w`, evicting the oldest once the window is full. */
  push(x: TypedArray, w: number): void {
    const size = this.#size;
    const n = this.#n;
    const full = this.#length === size;
    let slot = this.#ring[this.#head];
    if (slot === undefined) {
      slot = new this.#dataCtor(n) as TypedArray; // never int64: those streams use int64-stream.ts
      this.#ring.push(slot);
    }
    const oldW = this.#ringW[this.#head];
    const main = this.#main;
    const fresh = this.#fresh;
    const s = main[0];
    const c = main[1];
    const wh = main[2];
    const wl = main[3];
    const fs = fresh[0];
    const fc = fresh[1];
    const fwh = fresh[2];
    const fwl = fresh[3];
    const omit = this.#omit;
    const weighted = this.#weighted;
    if (this.#native === undefined) this.#native = omit || weighted ? null : nativeStream(x);
    const native = this.#native;
    // Plain windows on the native kernel: the same TwoSum steps per element, in the same order (add x to
    // the running and the fresh sums, then subtract the leaving input from the running sum), vectorized.
    if (native !== null) {
      addCompensatedNative(native, x, s, c, n, false);
      addCompensatedNative(native, x, fs, fc, n, false);
      if (full) addCompensatedNative(native, slot, s, c, n, true);
    }
    for (let i = 0; native === null && i < n; i++) {
      const xi = x[i];
      if (!(omit && xi !== xi)) {
        const v = weighted ? w * xi : xi;
        const e = weighted && splittable(w, xi, v) ? productError(w, xi, v) : 0;
        // TwoSum into the running and the fresh sums.
        let a = s[i];
        let t = a + v;
        let z = t - a;
        c[i] += a - (t - z) + (v - z) + e;
        s[i] = t;
        a = fs[i];
        t = a + v;
        z = t - a;
        fc[i] += a - (t - z) + (v - z) + e;
        fs[i] = t;
        if (omit) {
          a = wh[i];
          t = a + w;
          z = t - a;
          wl[i] += a - (t - z) + (w - z);
          wh[i] = t;
          a = fwh[i];
          t = a + w;
          z = t - a;
          fwl[i] += a - (t - z) + (w - z);
          fwh[i] = t;
        }
      }
      if (full) {
        const xo = slot[i];
        if (!(omit && xo !== xo)) {
          const p = weighted ? oldW * xo : xo;
          const v = -p;
          const e = weighted && splittable(oldW, xo, p) ? -productError(oldW, xo, p) : 0;
          const a = s[i];
          const t = a + v;
          const z = t - a;
          c[i] += a - (t - z) + (v - z) + e;
          s[i] = t;
          if (omit) {
            const b = wh[i];
            const u = b - oldW;
            const y = u - b;
            wl[i] += b - (u - y) + (-oldW - y);
            wh[i] = u;
          }
        }
      }
    }
    slot.set(x);
    this.#ringW[this.#head] = w;
    this.#head = (this.#head + 1) % size;
    if (!full) this.#length++;
    const peak = this.#peak;
    const freshPeak = this.#freshPeak;
    const inexact = this.#inexact;
    const freshInexact = this.#freshInexact;
    for (let i = 0; i < n; i++) {
      const a = Math.abs(s[i]);
      if (a > peak[i]) peak[i] = a;
      const b = Math.abs(fs[i]);
      if (b > freshPeak[i]) freshPeak[i] = b;
      if (c[i] !== 0) inexact[i] = 1;
      if (fc[i] !== 0) freshInexact[i] = 1;
    }
    if (++this.#freshCount === size) {
      // The fresh sums hold exactly the current window: restart the running sums from them.
      for (let p = 0; p < this.#main.length; p++) {
        this.#main[p].set(this.#fresh[p]);
        this.#fresh[p].fill(0);
      }
      peak.set(freshPeak);
      freshPeak.fill(0);
      inexact.set(freshInexact);
      freshInexact.fill(0);
      this.#freshCount = 0;
    }
  }

  /**
   * True when the compensated state (s, c) of element `i` is within a float64 ulp of the window's exact sum:
   * exact (c never nonzero), or with an error bound 2·(3·size)²·u²·peak (see #peak; the 2 covers a sum
   * between the add and the subtract of one push) of at most 2^-52·|s + c|.
   */
  #trusted(si: number, ci: number, i: number): boolean {
    if (this.#inexact[i] === 0) return true;
    const steps = 3 * this.#size;
    return 2 * steps * steps * 2 ** -106 * this.#peak[i] <= 2 ** -52 * Math.abs(si + ci);
  }

  /** The window's inputs, oldest first, and their weights. */
  #window(): [TypedArray[], Float64Array] {
    const L = this.#length;
    const start = L === this.#size ? this.#head : 0;
    const inputs: TypedArray[] = [];
    const weights = new Float64Array(L);
    for (let j = 0; j < L; j++) {
      const r = (start + j) % this.#size;
      inputs.push(this.#ring[r]);
      weights[j] = this.#ringW[r];
    }
    return [inputs, weights];
  }

  /**
   * The mean of the window as a new tensor: the float32 nearest the compensated sum's quotient, or its
   * float64 quotient; elements whose running state is not finite come from the kernel over the window.
   *
   * @throws {OptionError} when the window's weights sum to zero (as `meanFusion` throws).
   */
  result(): Tensor {
    let window: [TypedArray[], Float64Array] | undefined;
    let wHi = this.#length;
    let wLo = 0;
    if (this.#weighted) {
      window = this.#window();
      const weights = window[1];
      let total = 0;
      for (let j = 0; j < weights.length; j++) total += weights[j];
      if (total === 0) {
        throw new OptionError(
          `The weights of the ${weights.length} stream items in the window sum to 0: their weighted mean is undefined`,
        );
      }
      wHi = weights[0];
      for (let j = 1; j < weights.length; j++) {
        const w = weights[j];
        const u = wHi + w;
        const y = u - wHi;
        wLo += wHi - (u - y) + (w - y);
        wHi = u;
      }
    }
    const out = newTensor(this.dtype, this.shape);
    const o = out.data;
    const main = this.#main;
    const s = main[0];
    const c = main[1];
    const wh = main[2];
    const wl = main[3];
    const f32 = this.#f32;
    const omit = this.#omit;
    const native = this.#native ?? null;
    if (native !== null) {
      // The native finishes write (c = 0 ? s : s + c) / length (float64) or its fin_f32 rounding (float32)
      // and report the elements the loop below must finish (not finite, or near a float32 midpoint).
      const exact = (i: number): number => {
        const m = (c[i] === 0 ? s[i] : s[i] + c[i]) / wHi;
        if (m - m === 0 && c[i] - c[i] === 0) return f32 ? roundQuotientToFloat32(m, s[i], c[i], wHi, 0) : m;
        window ??= this.#window();
        return meanElement(window[0], i, { weights: null, nanOmit: false }, f32, 0);
      };
      if (f32) finishNativeF32(native, s, c, o as Float32Array, wHi, exact);
      else if (finishNativeF64c(native, s, c, o as Float64Array, wHi) > 0) {
        for (let i = 0; i < this.#n; i++) if (!(o[i] - o[i] === 0 && c[i] - c[i] === 0)) o[i] = exact(i);
      }
      const untrusted: number[] = [];
      for (let i = 0; i < this.#n; i++) if (!this.#trusted(s[i], c[i], i)) untrusted.push(i);
      if (untrusted.length > 0) {
        window ??= this.#window();
        const plain = { weights: null, nanOmit: false };
        if (untrusted.length > 16) {
          // Many: one batch fusion of the window (the same bits as the scalar kernel per element).
          const exactAll = (f32 ? new Float32Array(this.#n) : new Float64Array(this.#n)) as FloatArray;
          meanRange(window[0], exactAll, 0, this.#n, plain);
          for (const i of untrusted) o[i] = exactAll[i];
        } else for (const i of untrusted) o[i] = meanElement(window[0], i, plain, f32, 0);
      }
      return out;
    }
    for (let i = 0; i < this.#n; i++) {
      const si = s[i];
      const ci = c[i];
      const hi = omit ? wh[i] : wHi;
      const lo = omit ? wl[i] : wLo;
      const m = (ci === 0 ? si : si + ci) / (lo === 0 ? hi : hi + lo);
      if (m - m === 0 && ci - ci === 0 && this.#trusted(si, ci, i)) {
        o[i] = f32 ? roundQuotientToFloat32(m, si, ci, hi, lo) : m;
        continue;
      }
      window ??= this.#window();
      const params = { weights: this.#weighted ? window[1] : null, nanOmit: omit };
      o[i] = meanElement(window[0], i, params, f32, 0);
    }
    return out;
  }
}
