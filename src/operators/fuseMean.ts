/** `fuseMean`: the mean fusion of each group of tensors in a stream, inline or on a {@link FusionPool}. */
import {
  BehaviorSubject,
  catchError,
  concat,
  defer,
  EMPTY,
  first,
  map,
  mergeMap,
  type Observable,
  type OperatorFunction,
  throwError,
} from 'rxjs';
import { describe, MeanFusionError, OptionError } from '../errors.js';
import { meanFusion } from '../fusion/mean-fusion.js';
import type { MeanFusionOptions } from '../fusion/options.js';
import { assertKnownKeys } from '../option-keys.js';
import { FusionPool } from '../pool/FusionPool.js';
import type { Tensor, TensorLike } from '../tensor/tensor.js';

/** Options of {@link fuseMean}: those of `meanFusion` (except `out`) plus the pool. */
export interface FuseMeanOptions extends Omit<MeanFusionOptions, 'out'> {
  /**
   * Fuse on this pool's worker threads (bitwise the same results). Without it each group is fused inline,
   * synchronously, with `meanFusion`.
   * @default undefined
   */
  pool?: FusionPool;
  /**
   * Groups fused at once on the pool (results are still emitted in input order). Ignored without a pool.
   * @default pool.threads
   */
  concurrency?: number;
}

/**
 * Fuses each emitted group of k tensors into their element-wise mean (`meanFusion` semantics, the same
 * options for every group, e.g. `weights` with one weight per group member).
 *
 * Output order follows input order, also when up to `concurrency` groups are fused at once on the pool.
 * Unsubscribing (or an error) aborts the pool jobs in flight: their queued tasks are dropped and running
 * ones stopped. A fusion error (shape mismatch, bad weights, …) errors the stream, its message prefixed
 * with the group's position ("stream group 3: …"). Each emission is a new
 * tensor (from the pool: backed by a `SharedArrayBuffer` for large groups), never written again.
 *
 * @param options - `weights`, `nan`, `dtype`, `exact` as `meanFusion`, plus `pool` and `concurrency`.
 * @returns An operator from groups of tensors to their fused tensor.
 * @throws {OptionError} at call time when `options` is not an object, has `out`, `pool` is not a
 *   FusionPool, or `concurrency` is not an integer ≥ 1.
 */
export function fuseMean(options?: FuseMeanOptions): OperatorFunction<readonly TensorLike[], Tensor> {
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    throw new OptionError(`Expected the options of fuseMean to be an object, got ${describe(options)}`);
  }
  assertKnownKeys(
    options ?? {},
    ['weights', 'nan', 'dtype', 'exact', 'pool', 'concurrency', 'out'],
    'fuseMean',
  );
  const { pool, concurrency, ...fusion } = options ?? {};
  if ((fusion as MeanFusionOptions).out !== undefined) {
    throw new OptionError(
      'fuseMean takes no `out` option: every emission is a new tensor, never written again',
    );
  }
  if (pool !== undefined && !(pool instanceof FusionPool)) {
    throw new OptionError(`Expected \`pool\` to be a FusionPool, got ${describe(pool)}`);
  }
  if (
    concurrency !== undefined &&
    (typeof concurrency !== 'number' || !Number.isSafeInteger(concurrency) || concurrency < 1)
  ) {
    throw new OptionError(
      `Expected \`concurrency\` to be an integer from 1 and up, got ${describe(concurrency)}`,
    );
  }
  if (pool === undefined) {
    return (source: Observable<readonly TensorLike[]>) =>
      source.pipe(
        map((group, index) => {
          try {
            return meanFusion(group, fusion);
          } catch (error) {
            throw atGroup(error, index);
          }
        }),
      );
  }
  const limit = concurrency ?? pool.threads;
  return (source: Observable<readonly TensorLike[]>) =>
    defer(() => {
      // The index of the next group to emit. A finished job waits for its turn while holding its mergeMap
      // slot, so at most `limit` jobs run or wait at once and results leave in input order.
      const turn = new BehaviorSubject(0);
      return source.pipe(
        mergeMap(
          (group, index) =>
            pool.fuse$(group, fusion).pipe(
              catchError((error: unknown) => throwError(() => atGroup(error, index))),
              mergeMap((fused) =>
                concat(
                  turn.pipe(
                    first((n) => n === index),
                    map(() => fused),
                  ),
                  // Runs once `fused` has been delivered downstream: lets the next group out.
                  defer(() => {
                    turn.next(index + 1);
                    return EMPTY;
                  }),
                ),
              ),
            ),
          limit,
        ),
      );
    });
}

/**
 * Prefixes a fusion error's message with the group's position in the stream ("stream group 3: inputs[1] has
 * shape …"), keeping its class, name and code; other values pass through.
 */
function atGroup(error: unknown, index: number): unknown {
  if (error instanceof MeanFusionError) error.message = `stream group ${index}: ${error.message}`;
  return error;
}
