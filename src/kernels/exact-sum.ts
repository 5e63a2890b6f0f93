/**
 * The exact mode's per-element math in JavaScript, the twin of native/exact.h: an error-free running state
 * (s, c) and its certified finish. The WebAssembly fallback, the weighted and `nan: 'omit'` modes and the
 * stream operators run on it; the native kernel runs the same method in C.
 *
 * State: (s, c) whose exact sum is the exact sum of the terms so far. A term v goes in by two TwoSum steps:
 * (s, e) = TwoSum(s, v) is error-free, and (c, f) = TwoSum(c, e) is error-free when f = 0. A step with
 * f ≠ 0, or whose values are not finite, is not error-free: its element goes to an exact accumulator.
 *
 * Finish of N / d: hi + lo = s + c (TwoSum, exact), candidate y = the output format's rounding of fl(hi / d),
 * and the exact residual R = N − y·d = (hi − p) + lo − pe, where p + pe = y·d (Dekker's TwoProduct) and
 * hi − p is exact (Sterbenz). y is the correctly rounded N / d exactly when R / d lies strictly inside
 * (−down/2, up/2), with up and down the spacings of the output format above and below |y|. R is evaluated
 * with two roundings and bounded by 2^-50 (|hi − p| + |lo| + |pe|) (four times the worst case). Nearer a
 * midpoint, the exact signs of R ∓ d·spacing/2 (sums of four float64s, by error-free distillation) decide,
 * exact ties (common: a sum of k values often has only a few bits more than one float64, and a power-of-two
 * k divides exactly) to even. Values outside the ranges where those steps are exact, or not finite, are
 * left to the exact accumulator.
 *
 * ## References
 * - D. E. Knuth, *The Art of Computer Programming* vol. 2, §4.2.2 (TwoSum).
 * - T. J. Dekker, "A floating-point technique for extending the available precision", 1971 (TwoProduct).
 * - T. Ogita, S. M. Rump, S. Oishi, "Accurate sum and dot product", SIAM J. Sci. Comput. 26(6), 2005.
 * - P. H. Sterbenz, *Floating-Point Computation*, 1974 (exact subtraction of nearby values).
 */
import { productError } from './exact.js';

/** Set by {@link exactStep}: the state after the step, and what the step lost (0 when error-free). */
export const stepState = { s: 0, c: 0, lost: 0 };

/**
 * One term v into the state (s, c); writes the new state into {@link stepState} and returns true when the
 * step was error-free (false: the state cannot hold the exact sum; the caller keeps the old state and adds
 * the term to its exact accumulator). Non-finite terms or sums are never error-free.
 */
export function exactStep(s: number, c: number, v: number): boolean {
  const t = s + v;
  const z = t - s;
  const e = s - (t - z) + (v - z);
  const u = c + e;
  const w = u - c;
  const f = c - (u - w) + (e - w);
  stepState.s = t;
  stepState.c = u;
  stepState.lost = f;
  return f === 0; // NaN (from ±inf or overflow) is not 0
}

const f64 = new Float64Array(1);
const w32 = new Uint32Array(f64.buffer);
const LOW = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1;
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float64 after (or, with `step` −1, before) a positive finite float64 a, by its bit pattern. */
function neighbour64(a: number, step: 1 | -1): number {
  f64[0] = a;
  let lo = w32[LOW] + step;
  let hi = w32[1 - LOW];
  if (lo > 0xffffffff) {
    lo = 0;
    hi += 1;
  } else if (lo < 0) {
    lo = 0xffffffff;
    hi -= 1;
  }
  w32[LOW] = lo;
  w32[1 - LOW] = hi;
  return f64[0];
}

/** The float32 after (or before) a positive finite float32 a, as a number. */
function neighbour32(a: number, step: 1 | -1): number {
  f32[0] = a;
  u32[0] += step;
  return f32[0];
}

/**
 * The correctly rounded (s + c) / d, ties to even, when the certificate proves it; `NaN` otherwise (the
 * certified path never yields NaN: non-finite states fail it). A zero result is −0 only when s, the IEEE sum
 * of the terms, is −0 (every term −0), divided by d's sign as IEEE divides.
 *
 * @param s - State sum (float64).
 * @param c - State compensation; s + c is the exact sum of the terms.
 * @param d - The divisor (k, or the weights' exact sum): finite, non-zero, |d| in [2^-400, 2^400].
 * @param toFloat32 - Round to float32 instead of float64.
 * @param lost - A bound on |exact sum − (s + c)| (what steps that were not error-free lost); 0: exact.
 *   With a bound, only results whose whole interval lies inside one rounding cell are certified.
 */
export function finishExact(s: number, c: number, d: number, toFloat32: boolean, lost = 0): number {
  const hi0 = s + c;
  if (hi0 === 0) return lost === 0 ? (s === 0 ? s : 0) / d : Number.NaN;
  const z = hi0 - s;
  const lo0 = s - (hi0 - z) + (c - z);
  // Divide by |d|: the mean's sign moves to the numerator.
  const negD = d < 0;
  const dd = negD ? -d : d;
  const hi = negD ? -hi0 : hi0;
  const lo = negD ? -lo0 : lo0;
  const a = Math.abs(hi);
  if (!(a >= 2 ** -900 && a <= 2 ** 990)) return Number.NaN;
  const q = hi / dd;
  let y = toFloat32 ? Math.fround(q) : q;
  // y is within about one spacing of the result: at most two moves to a neighbour.
  for (let move = 0; move < 3; move++) {
    const ay = Math.abs(y);
    if (!(ay > 0 && ay < 2 ** 1000)) return Number.NaN;
    const p = y * dd;
    const pe = productError(y, dd, p);
    const dp = hi - p; // exact (Sterbenz)
    const r = dp + lo - pe;
    const err = (Math.abs(dp) + Math.abs(lo) + Math.abs(pe)) * 2 ** -50 + lost * (1 + 2 ** -20);
    const up = (toFloat32 ? neighbour32(ay, 1) : neighbour64(ay, 1)) - ay;
    const down = ay - (toFloat32 ? neighbour32(ay, -1) : neighbour64(ay, -1));
    if (!(up < Number.POSITIVE_INFINITY)) return Number.NaN; // float32's largest value: overflow is near
    const sign = y < 0 ? -1 : 1;
    const rr = sign * r;
    const hu = dd * up * 0.5;
    const hd = dd * down * 0.5;
    if (rr + err < hu && rr - err > -hd) return y;
    if (lost !== 0) {
      // Only bounds: move to a neighbour whose cell holds the whole interval's side, else exact.
      if (rr - err > hu) y = sign * (ay + up);
      else if (rr + err < -hd) y = sign * (ay - down);
      else return Number.NaN;
      continue;
    }
    // Near or on a midpoint, or beyond: the exact signs of R ∓ spacing/2 decide (ties to even).
    const above = exactSign4(sign * dp, sign * lo, -sign * pe, -hu);
    if (above === 0) return sign * evenOf(ay, ay + up, toFloat32);
    if (above === 1) {
      y = sign * (ay + up);
      continue;
    }
    if (above !== -1) return Number.NaN; // undecided: exact accumulator
    const below = exactSign4(sign * dp, sign * lo, -sign * pe, hd);
    if (below === 0) return sign * evenOf(ay, ay - down, toFloat32);
    if (below === -1) {
      y = sign * (ay - down);
      continue;
    }
    return below === 1 ? y : Number.NaN;
  }
  return Number.NaN;
}

/** Of two neighbouring positive values of the output format, the one whose last significand bit is 0. */
function evenOf(a: number, b: number, toFloat32: boolean): number {
  if (toFloat32) {
    f32[0] = a;
    return (u32[0] & 1) === 0 ? a : b;
  }
  f64[0] = a;
  return (w32[LOW] & 1) === 0 ? a : b;
}

/**
 * The exact sign (−1, 0 or 1) of a + b + c + d, by repeated error-free distillation (VecSum) until the
 * largest term outweighs the others' magnitudes; NaN if that takes more than a few passes.
 */
export function exactSign4(a: number, b: number, c: number, d: number): number {
  let x0 = a;
  let x1 = b;
  let x2 = c;
  let x3 = d;
  for (let pass = 0; pass < 8; pass++) {
    let s = x0 + x1;
    let z = s - x0;
    const e1 = x0 - (s - z) + (x1 - z);
    let t = s + x2;
    z = t - s;
    const e2 = s - (t - z) + (x2 - z);
    s = t + x3;
    z = s - t;
    const e3 = t - (s - z) + (x3 - z);
    const tail = Math.abs(e1) + Math.abs(e2) + Math.abs(e3);
    if (tail === 0) return s > 0 ? 1 : s < 0 ? -1 : 0;
    if (Math.abs(s) > tail * (1 + 2 ** -50)) return s > 0 ? 1 : -1;
    x0 = e1;
    x1 = e2;
    x2 = e3;
    x3 = s;
  }
  return Number.NaN;
}

/**
 * The exact product w·x as p + e when Dekker's TwoProduct is error-free for it (operands below 2^995, the
 * product normal enough that its error term is representable, or a zero operand); `NaN` for e otherwise.
 * Returns e; p is `w * x`.
 */
export function exactProductError(w: number, x: number, p: number): number {
  if (w === 0 || x === 0) return 0;
  const ap = Math.abs(p);
  if (!(ap >= 2 ** -968 && ap < 2 ** 1000) || Math.abs(w) >= 2 ** 995 || Math.abs(x) >= 2 ** 995) {
    return Number.NaN;
  }
  return productError(w, x, p);
}
