/**
 * The weight scale of weighted float32 results. A weighted mean Σ wⱼxⱼ / Σ wⱼ does not change when every
 * weight is multiplied by one power of two, but its float64 products do: with weights of 1e-305 the products
 * of float32 inputs (and the error terms that make a float32 result exact) fall below float64's normal
 * range and lose bits, so one element in 25 came out 1 ulp from the nearest float32. Weights of ordinary
 * magnitude are used as they are; otherwise they are scaled by 2^σ, σ = −⌊log2 max|wⱼ|⌋, so the largest
 * lies in [1, 2).
 *
 * σ follows the largest weight among the inputs so far, input by input (the kernel rescales its running
 * sums by 2^(σ' − σ) when σ changes), so that a stream, which cannot know its later weights, performs the
 * very same operations as the kernel (src/operators/internal/running-accumulator.ts). Since σ only decreases,
 * rescaling only drops bits below float64's normal range, of terms 2^300 times smaller than the largest.
 */
import { exponentOf } from './exact.js';
import { scaleExponentFor } from './scalar.js'; // a cycle of functions only: safe in ESM

/**
 * Weights whose largest magnitude lies in [2^-WEIGHT_BAND, 2^WEIGHT_BAND) are used as they are: products
 * of float32 inputs with them stay within [2^-449, 2^428], exact together with their error terms.
 */
const WEIGHT_BAND = 300;

/** σ for a largest weight magnitude `max`: 0 in the band (and for 0), else −⌊log2 max⌋ within ±1023. */
export function weightExponentForMax(max: number): number {
  if (max === 0) return 0;
  const e = exponentOf(max);
  if (e >= -WEIGHT_BAND && e < WEIGHT_BAND) return 0;
  return Math.min(1023, Math.max(-1023, -e));
}

/** `w` at scale 2^σ (a non-zero weight never becomes 0: it keeps its sign for 0·inf and Σw checks). */
export function scaleWeight(w: number, sigma: number): number {
  if (sigma === 0) return w;
  const v = w * 2 ** sigma;
  return v === 0 && w !== 0 ? Math.sign(w) * 2 ** -1074 : v;
}

/** The two factors whose product is 2^d (d may exceed float64's exponent range), applied left to right. */
export function rescaleFactors(d: number): [number, number] {
  const half = Math.trunc(d / 2);
  return [2 ** half, 2 ** (d - half)];
}

/** How a weighted float32 fusion walks its weights. */
export interface Float32WeightPlan {
  /** The weight input j is multiplied by (its weight at the scale in force after input j). */
  readonly w: Float64Array;
  /** Factors the running sums are multiplied by before input j is added (1, 1 when σ does not change;
   * `b` is not 1 whenever σ changes). */
  readonly a: Float64Array;
  readonly b: Float64Array;
  /** The overflow-safe scale exponent: the largest `scaleExponentFor(Σ|w|)` along the way. */
  readonly safeExponent: number;
}

let lastWeights: Float64Array | undefined;
let lastPlan: Float32WeightPlan | null | undefined;

/**
 * The plan for `weights` (cached for the last weights array seen: one per fusion call), or `null` when σ
 * stays 0 throughout (ordinary weights): the weights are then used as given, with no rescaling.
 */
export function float32WeightPlan(weights: Float64Array): Float32WeightPlan | null {
  if (weights === lastWeights && lastPlan !== undefined) return lastPlan;
  let largest = 0;
  for (let j = 0; j < weights.length; j++) largest = Math.max(largest, Math.abs(weights[j]));
  if (largest < 2 ** WEIGHT_BAND && Math.abs(weights[0]) >= 2 ** -WEIGHT_BAND) {
    // Every prefix's largest weight lies between the first and the largest: σ = 0 throughout.
    lastWeights = weights;
    lastPlan = null;
    return null;
  }
  const k = weights.length;
  const w = new Float64Array(k);
  const a = new Float64Array(k).fill(1);
  const b = new Float64Array(k).fill(1);
  let max = 0;
  let sigma = 0;
  let absW = 0;
  let safe = 1;
  for (let j = 0; j < k; j++) {
    max = Math.max(max, Math.abs(weights[j]));
    const next = weightExponentForMax(max);
    if (next !== sigma) {
      [a[j], b[j]] = rescaleFactors(next - sigma);
      absW = absW * a[j] * b[j];
      sigma = next;
    }
    w[j] = scaleWeight(weights[j], sigma);
    absW += Math.abs(w[j]);
    safe = Math.max(safe, scaleExponentFor(absW));
  }
  lastWeights = weights;
  lastPlan = { w, a, b, safeExponent: safe };
  return lastPlan;
}
