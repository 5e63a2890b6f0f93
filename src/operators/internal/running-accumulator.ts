/**
 * The exact running mean of `runningMean`: per push, the kernel's steps for one more input into a
 * {@link RunningState} (on the native stream kernel for plain means, else in JavaScript), and a finish that
 * performs the very floating-point operations `meanFusion` performs on the n inputs, so the bits agree.
 */
import { EmptyInputError, OptionError } from '../../errors.js';
import { roundQuotientToFloat32 } from '../../kernels/exact.js';
import {
  accumulateFinishNative,
  accumulateNative,
  finishNativeF32,
  finishNativeF64,
  nativeStream,
} from '../../kernels/native-stream.js';
import { scaleExponentFor } from '../../kernels/scalar.js';
import { rescaleFactors, scaleWeight, weightExponentForMax } from '../../kernels/weight-scale.js';
import type { FloatDType, TypedArray } from '../../tensor/dtype.js';
import { shapeSize } from '../../tensor/shape.js';
import type { AnyTensor, Tensor } from '../../tensor/tensor.js';
import { unfilledTensor } from './output-tensor.js';
import { RunningState } from './running-state.js';
import { type ResolvedStreamOptions, streamDType } from './stream-options.js';

/**
 * A plain stream's float32 result of one element from its compensated state (s, c) after k pushes: the
 * float32 nearest (s + c) / k (the WebAssembly kernel's fin_f32 and exact finisher), or the non-finite
 * quotient as it is.
 */
function finishF32(s: number, c: number, k: number): number {
  const m = (c === 0 ? s : s + c) / k;
  return m - m === 0 ? roundQuotientToFloat32(m, s, c, k, 0) : m;
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
  /** Σ w in push order, compensated (#total + #totalLo), as `meanFusion` checks it for a zero sum. */
  #total = 0;
  #totalLo = 0;
  /** The compensated weight sum (wHi, wLo) when it is the same for every element (no NaN omission). */
  #wHi = 0;
  #wLo = 0;
  /** The per-element sums, and the scaled state of elements whose sum overflowed. */
  readonly #st: RunningState;
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
    this.#st = new RunningState(this.#n, this.#f32, this.#omit, weighted);
  }

  /** Number of tensors pushed. */
  get count(): number {
    return this.#k;
  }

  /** Σ wᵢ of the pushes in order (the number of pushes when unweighted). */
  get weightTotal(): number {
    return this.#total + this.#totalLo;
  }

  /** Adds one tensor's data (same shape and dtype as the first; unchecked) with weight `w` (1 if unweighted). */
  push(x: TypedArray, w: number): void {
    w = this.#count(w);
    const first = this.#k === 1;
    if (this.#weighted || this.#omit) this.#st.pushGeneral(x, w, first);
    else if (this.#pushNative(x, first)) return;
    else if (this.#f32) this.#st.pushCompensated(x, first);
    else this.#st.pushPlain(x, first);
  }

  /**
   * {@link RunningAccumulator.push} then {@link RunningAccumulator.result}, the same bits; a plain stream on
   * the native kernel adds and finishes in one pass over the state (what `runningMean` does per item).
   */
  pushResult(x: TypedArray, w: number): Tensor {
    if (this.#weighted || this.#omit) {
      this.push(x, w);
      return this.result();
    }
    if (this.#native === undefined) this.#native = nativeStream(x);
    const native = this.#native;
    if (native === null) {
      this.push(x, w);
      return this.result();
    }
    this.#count(w);
    const first = this.#k === 1;
    const out = unfilledTensor(this.dtype, this.shape);
    const o = out.data;
    const st = this.#st;
    const s = st.s;
    const c = st.c;
    const k = this.#k;
    this.#spillInput = x;
    this.#spillFirst = first;
    const exact = (i: number) => finishF32(s[i], c[i], k);
    const o64 = o as Float64Array | Float32Array;
    accumulateFinishNative(native, x, s, this.#f32 ? c : null, o64, k, first, this.#onSpill, exact);
    const scaled = st.scaled;
    if (scaled.size > 0) for (const [i, e] of scaled.entries()) o[i] = scaled.finish(e.s, e.c, k, 0);
    return out;
  }

  /**
   * The bookkeeping of one push of weight `w`: the count, the weight sums, the overflow-safe exponent.
   * @returns the weight as the kernel uses it (rescaled for a weighted float32 stream, else `w`).
   */
  #count(w: number): number {
    const first = this.#k === 0;
    const given = w;
    if (this.#weighted && this.#f32) w = this.#kernelWeight(w);
    this.#k++;
    this.#absW += Math.abs(w);
    const u = this.#total + given;
    const z = u - this.#total;
    this.#totalLo += this.#total - (u - z) + (given - z);
    this.#total = u;
    const exp = scaleExponentFor(this.#weighted ? this.#absW : this.#k);
    this.#st.scaled.raise(exp);
    if (!this.#omit) {
      if (first) this.#wHi = w;
      else {
        const u = this.#wHi + w;
        const y = u - this.#wHi;
        this.#wLo += this.#wHi - (u - y) + (w - y);
        this.#wHi = u;
      }
    }
    return w;
  }

  /** The native stream kernel for this stream's dtype (null: the JavaScript loops run), once looked up. */
  #native: ReturnType<typeof nativeStream> | undefined;
  #spillInput: TypedArray | undefined;
  #spillFirst = false;
  /** An element whose native state stopped being finite continues on the scaled path. */
  readonly #onSpill = (i: number, olds: number, oldc: number): void => {
    const x = this.#spillInput as TypedArray;
    this.#st.scaled.step(i, !this.#spillFirst, olds, oldc, x[i], 1);
  };

  /**
   * Plain mean on the native kernel: the steps of `RunningState.pushPlain` / `pushCompensated`, vectorized; elements whose
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
    const st = this.#st;
    accumulateNative(k, x, st.s, this.#f32 ? st.c : null, this.#n, first, this.#onSpill);
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
    const st = this.#st;
    for (const arr of [st.s, st.c, st.wHiE, st.wLoE]) {
      for (let i = 0; i < arr.length; i++) arr[i] = by(arr[i]);
    }
    this.#wHi = by(this.#wHi);
    this.#wLo = by(this.#wLo);
    this.#absW = by(this.#absW);
    // The overflow-safe exponent stays the largest seen, as the kernel's plan keeps it.
    st.scaled.rescale(by);
  }

  /**
   * The mean of everything pushed so far, as a new tensor (never written again).
   *
   * @throws {EmptyInputError} before the first push.
   * @throws {OptionError} when the weights pushed so far sum to zero (as `meanFusion` throws).
   */
  result(): Tensor {
    if (this.#k === 0) throw new EmptyInputError('The stream has no tensor yet: a mean needs at least one');
    if (this.#total + this.#totalLo === 0) {
      throw new OptionError(
        `The weights of stream items 0 to ${this.#k - 1} sum to 0: their weighted mean is undefined`,
      );
    }
    // Every branch below writes every element.
    const out = unfilledTensor(this.dtype, this.shape);
    const o = out.data;
    const n = this.#n;
    const st = this.#st;
    const s = st.s;
    const c = st.c;
    const f32 = this.#f32;
    const scaled = st.scaled;
    if (!this.#weighted && !this.#omit) {
      const k = this.#k;
      const native = this.#native ?? null;
      if (native !== null) {
        if (f32) {
          finishNativeF32(native, s, c, o as Float32Array, k, (i) => finishF32(s[i], c[i], k));
        } else finishNativeF64(native, s, o as Float64Array, k);
      } else if (f32) {
        for (let i = 0; i < n; i++) o[i] = finishF32(s[i], c[i], k);
      } else {
        for (let i = 0; i < n; i++) o[i] = s[i] / k;
      }
      for (const [i, e] of scaled.entries()) o[i] = scaled.finish(e.s, e.c, k, 0);
      return out;
    }
    const omit = this.#omit;
    const scale = 2 ** -scaled.exponent;
    for (let i = 0; i < n; i++) {
      const wHi = omit ? st.wHiE[i] : this.#wHi;
      const wLo = omit ? st.wLoE[i] : this.#wLo;
      if ((omit && st.started[i] === 0) || wHi + wLo === 0) {
        o[i] = Number.NaN;
        continue;
      }
      const e = scaled.get(i);
      if (e !== undefined) {
        o[i] = scaled.finish(e.s, e.c, wHi, wLo);
        continue;
      }
      const si = s[i];
      const ci = f32 ? c[i] : 0;
      const m = (ci === 0 ? si : si + ci) / (wLo === 0 ? wHi : wHi + wLo);
      if (m - m !== 0) o[i] = scaled.finish(si * scale, ci * scale, wHi, wLo);
      else o[i] = f32 ? roundQuotientToFloat32(m, si, ci, wHi, wLo) : m;
    }
    return out;
  }
}
