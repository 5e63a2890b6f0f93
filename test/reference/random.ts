/**
 * The tests' seeded random numbers: one 32-bit linear congruential generator (Numerical Recipes' constants),
 * so data is the same on every run and every machine.
 */

/** A generator of uint32 values from `seed`: each call advances s = 1664525·s + 1013904223 (mod 2^32). */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}
