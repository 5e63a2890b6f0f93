/** Errors of the cluster job (stable `name` and `code`, like every error of this package). */
import { MeanFusionError } from '../../errors.js';

/**
 * A shard failed for good (its last attempt threw, or it stalled more than `maxStalledCount` times): the
 * fusion failed, its temporary output was removed. The message names the shard, its rows and the cause.
 */
export class ShardError extends MeanFusionError {
  /** Index of the shard, from 0. */
  readonly shard: number;
  /** First row of the shard (inclusive). */
  readonly rowStart: number;
  /** Last row of the shard (exclusive). */
  readonly rowEnd: number;

  constructor(shard: number, rowStart: number, rowEnd: number, rows: number, reason: string) {
    super(
      `Shard ${shard} (rows [${rowStart}, ${rowEnd}) of ${rows}) failed on a cluster worker: ${reason}`,
      'ERR_SHARD_FAILED',
    );
    this.name = 'ShardError';
    this.shard = shard;
    this.rowStart = rowStart;
    this.rowEnd = rowEnd;
  }
}

/** Redis could not be reached (or was lost for longer than `connectionTimeout`): the fusion was given up. */
export class RedisUnavailableError extends MeanFusionError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'ERR_REDIS_UNAVAILABLE', options);
    this.name = 'RedisUnavailableError';
  }
}
