/**
 * The running mean of `runningMean({ exact: true })`: after n pushes, {@link ExactRunningAccumulator.result}
 * is bitwise `meanFusion` of the n tensors with `exact: true` (the value of the output dtype nearest the
 * exact Σ wᵢ·xᵢ / Σ wᵢ, ties to even) — the same accumulator as the batch kernel's (exact-sum.ts and its C
 * twin native/exact.c): per element an error-free state (s, c), and for the rare steps that are not
 * error-free an exact BigInt addend, so the state is the exact sum after every push.
 *
 * Per element, exactly: Σ terms = s + c + R, with R (a BigInt in units of 2^-2148, which every product of
 * two float64s is a multiple of) kept only for elements that needed it. Non-finite terms (±inf, NaN, or w·x
 * of a zero weight and an infinity) are summed apart in IEEE arithmetic and give what the default mode gives.
 */
import { OptionError } from '../../errors.js';
import { canonical } from '../../kernels/exact-range.js';
import { roundRatio, scaled } from '../../kernels/exact-rational.js';
import { exactProductError, exactStep, finishExact, stepState } from '../../kernels/exact-sum.js';
import { accumulateExactNative, finishExactNative, nativeExactStream } from '../../kernels/native-exact.js';
import type { FloatArray, FloatDType, TypedArray } from '../../tensor/dtype.js';
import { shapeSize } from '../../tensor/shape.js';
import type { AnyTensor, Tensor } from '../../tensor/tensor.js';
import { newTensor } from './output-tensor.js';
import { type ResolvedStreamOptions, streamDType } from './stream-options.js';

/** The exact value of a finite float64 in units of 2^-2148 (the unit of products). */
function big(x: number): bigint {
  return scaled(x) << 1074n;
}

/** The exact value of a finite product w·x in units of 2^-2148. */
function bigProduct(w: number, x: number): bigint {
  return scaled(w) * scaled(x);
}

/** Divisors the certified finish takes (exact-sum.ts `finishExact`). */
function certifiable(d: number): boolean {
  const a = Math.abs(d);
  return a >= 2 ** -400 && a <= 2 ** 400;
}

/** Exact running mean with O(one tensor) state; see the file comment. */
export class ExactRunningAccumulator {
  readonly shape: readonly number[];
  readonly dtype: FloatDType;
  readonly #n: number;
  readonly #f32: boolean;
  readonly #omit: boolean;
  readonly #weighted: boolean;
  readonly #s: Float64Array;
  readonly #c: Float64Array;
  /** Exact addends (units 2^-2148) of elements whose steps were not all error-free. */
  readonly #extra = new Map<number, bigint>();
  /** IEEE sums of the non-finite terms of elements that had any. */
  readonly #nonFinite = new Map<number, number>();
  /** `nan: 'omit'`: whether the element has a counted term yet (its first sets s, so −0 survives). */
  readonly #started: Uint8Array | null;
  /** `nan: 'omit'`: per element the divisor, as an error-free state (count, or Σw as dHi + dLo). */
  readonly #dHi: Float64Array | null;
  readonly #dLo: Float64Array | null;
  /** `nan: 'omit'`, weighted: exact divisors (units 2^-1074) of elements whose Σw is not error-free. */
  readonly #dExtra = new Map<number, bigint>();
  /** Pushes so far, and without omission the exact Σw (units 2^-1074) and its float64 value when exact. */
  #k = 0;
  #wBig = 0n;
  #wHi = 0;
  #wLo = 0;
  #wExact = true;
  #native: ReturnType<typeof nativeExactStream> | undefined;

  /**
   * @param first - The stream's first tensor (only its shape and dtype are read here).
   * @param weighted - Whether pushes carry weights.
   */
  constructor(first: AnyTensor, weighted: boolean, options: ResolvedStreamOptions) {
    this.shape = first.shape;
    this.dtype = streamDType(first.dtype, options);
    const n = shapeSize(first.shape);
    this.#n = n;
    this.#f32 = this.dtype === 'float32';
    this.#omit = options.nanOmit;
    this.#weighted = weighted;
    this.#s = new Float64Array(n);
    this.#c = new Float64Array(n);
    this.#started = this.#omit ? new Uint8Array(n) : null;
    this.#dHi = this.#omit ? new Float64Array(n) : null;
    this.#dLo = this.#omit && weighted ? new Float64Array(n) : null;
  }

  /** Number of tensors pushed. */
  get count(): number {
    return this.#k;
  }

  /** Adds one tensor's data (same shape and dtype as the first; unchecked) with weight `w` (1 if unweighted). */
  push(x: TypedArray, w: number): void {
    const first = this.#k === 0;
    this.#k++;
    if (!this.#omit) this.#addWeight(w, first);
    if (!this.#weighted && !this.#omit && this.#pushNative(x, first)) return;
    for (let i = 0; i < this.#n; i++) this.#pushElement(i, x[i], w, first);
  }

  /** Σw without omission: exactly as a BigInt, and as float64 (wHi, wLo) while the cascade is error-free. */
  #addWeight(w: number, first: boolean): void {
    this.#wBig += scaled(w);
    if (first) {
      this.#wHi = w;
      return;
    }
    if (this.#wExact && exactStep(this.#wHi, this.#wLo, w)) {
      this.#wHi = stepState.s;
      this.#wLo = stepState.c;
    } else this.#wExact = false;
  }

  /** Plain pushes on the native exact stream kernel; false when it is not available for `x`. */
  #pushNative(x: TypedArray, first: boolean): boolean {
    if (this.#native === undefined) this.#native = nativeExactStream(x);
    const k = this.#native;
    if (k === null) return false;
    accumulateExactNative(k, x, this.#s, this.#c, this.#n, first, (i) => this.#addExact(i, x[i], 1));
    return true;
  }

  /** A term the error-free state could not take: into the element's exact addend (or its non-finite sum). */
  #addExact(i: number, x: number, w: number): void {
    const v = w * x;
    if (!Number.isFinite(x) || Number.isNaN(v)) {
      this.#nonFinite.set(i, (this.#nonFinite.get(i) ?? 0) + v);
      return;
    }
    const e = this.#extra.get(i) ?? 0n;
    this.#extra.set(i, e + (w === 1 ? big(x) : bigProduct(w, x)));
  }

  /** One term w·x of element i into its state (JavaScript path: weights, NaN omission, no native kernel). */
  #pushElement(i: number, x: number, w: number, first: boolean): void {
    if (this.#omit) {
      if (x !== x) return; // NaN omitted
      this.#countWeight(i, w);
    }
    const started = this.#started;
    const opening = started === null ? first : started[i] === 0;
    if (started !== null) started[i] = 1;
    const v = this.#weighted ? w * x : x;
    const e = this.#weighted ? exactProductError(w, x, v) : 0;
    if (x - x !== 0 || e !== e) {
      this.#addExact(i, x, w);
      return;
    }
    const s = this.#s;
    const c = this.#c;
    if (opening) {
      s[i] = v;
      c[i] = e;
      return;
    }
    if (!exactStep(s[i], c[i], v)) {
      this.#addExact(i, x, w);
      return;
    }
    s[i] = stepState.s;
    c[i] = stepState.c;
    if (e !== 0) {
      const ci = c[i];
      const t = ci + e;
      const z = t - ci;
      const r = ci - (t - z) + (e - z);
      c[i] = t;
      if (r !== 0) this.#extra.set(i, (this.#extra.get(i) ?? 0n) + big(r));
    }
  }

  /** `nan: 'omit'`: element i counts one more term of weight w in its divisor. */
  #countWeight(i: number, w: number): void {
    const dHi = this.#dHi as Float64Array;
    const dLo = this.#dLo;
    if (dLo === null) {
      dHi[i] += 1;
      return;
    }
    const big = this.#dExtra.get(i);
    if (big !== undefined) {
      this.#dExtra.set(i, big + scaled(w));
      return;
    }
    if (exactStep(dHi[i], dLo[i], w)) {
      dHi[i] = stepState.s;
      dLo[i] = stepState.c;
    } else this.#dExtra.set(i, scaled(dHi[i]) + scaled(dLo[i]) + scaled(w));
  }

  /**
   * The exactly rounded mean of everything pushed so far, as a new tensor (never written again).
   *
   * @throws {OptionError} when the weights pushed so far sum to exactly zero (no NaN omission).
   */
  result(): Tensor {
    if (!this.#omit && this.#wBig === 0n) {
      throw new OptionError(
        `The weights of stream items 0 to ${this.#k - 1} sum to 0: their weighted mean is undefined`,
      );
    }
    const out = newTensor(this.dtype, this.shape);
    const o = out.data as FloatArray;
    const s = this.#s;
    const c = this.#c;
    const f32 = this.#f32;
    // Without omission every element shares one divisor: a float64 when Σw is one, else exact only.
    const shared =
      this.#wExact && this.#wHi + this.#wLo - this.#wHi === this.#wLo ? this.#wHi + this.#wLo : NaN;
    const native = this.#native ?? null;
    const exactly = (i: number): void => {
      o[i] = canonical(this.#exactElement(i));
    };
    if (!this.#omit && native !== null && shared > 0 && certifiable(shared)) {
      finishExactNative(native, s, c, o, shared, this.#n, exactly);
    } else {
      for (let i = 0; i < this.#n; i++) {
        const d = this.#omit ? this.#divisor(i) : shared;
        const r = certifiable(d) ? finishExact(s[i], c[i], d, f32) : Number.NaN;
        if (r === r) o[i] = r;
        else exactly(i);
      }
    }
    for (const i of this.#extra.keys()) exactly(i);
    for (const i of this.#nonFinite.keys()) exactly(i);
    return out;
  }

  /** `nan: 'omit'`: element i's divisor as one float64 when it is one, else NaN. */
  #divisor(i: number): number {
    const dHi = this.#dHi as Float64Array;
    if (this.#dLo === null) return dHi[i];
    if (this.#dExtra.has(i)) return Number.NaN;
    const d = dHi[i] + this.#dLo[i];
    return d - dHi[i] === this.#dLo[i] ? d : Number.NaN;
  }

  /** Element i from its exact value: BigInts, or the non-finite terms' IEEE sum over the divisor's sign. */
  #exactElement(i: number): number {
    let den: bigint;
    if (!this.#omit) den = this.#wBig;
    else if (this.#dLo === null) den = scaled((this.#dHi as Float64Array)[i]);
    else den = this.#dExtra.get(i) ?? scaled((this.#dHi as Float64Array)[i]) + scaled(this.#dLo[i]);
    if (this.#omit && (this.#started as Uint8Array)[i] === 0) return Number.NaN; // every input NaN
    if (den === 0n) return Number.NaN; // the counted weights cancel
    const nf = this.#nonFinite.get(i);
    if (nf !== undefined) {
      const q = den < 0n ? -nf : nf;
      return this.#f32 ? Math.fround(q) : q;
    }
    const num = big(this.#s[i]) + big(this.#c[i]) + (this.#extra.get(i) ?? 0n);
    if (num === 0n) {
      // −0 only when every term was −0: then no addend exists and s, their IEEE sum, is −0.
      const zero = this.#extra.has(i) ? 0 : this.#s[i] === 0 ? this.#s[i] : 0;
      return den < 0n ? -zero : zero;
    }
    // num · 2^-2148 / (den · 2^-1074)
    return roundRatio(num, den, this.#f32, -1074);
  }
}
