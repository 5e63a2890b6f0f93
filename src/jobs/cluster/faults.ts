/**
 * TEST ONLY: faults a cluster worker can inject into its own shards, so tests can prove retries, stalled-
 * job recovery and cancellation against a real Redis. Never set them in production. The CLI worker reads
 * them from the environment variable `MEAN_FUSION_TEST_FAULTS` (JSON of {@link ShardFaults}).
 */
import { open } from 'node:fs/promises';
import { itemSize } from '../../tensor/dtype.js';
import type { ShardData } from './protocol.js';

/** See the module comment: test-only fault injection. */
export interface ShardFaults {
  /** Throw on this shard index (while the shard's failed attempts are below `throwAttempts`). */
  readonly throwOnShard?: number;
  /** Failed attempts after which `throwOnShard` stops throwing. @default Infinity */
  readonly throwAttempts?: number;
  /**
   * On this shard index: scribble over the start of the shard's output range (a half-written shard), then
   * hang until the job is cancelled (so a test can SIGKILL the worker mid-shard).
   */
  readonly hangOnShard?: number;
}

/** Parses `MEAN_FUSION_TEST_FAULTS`; `undefined` when unset. @throws {Error} for JSON that is not an object. */
export function faultsFromEnv(text: string | undefined): ShardFaults | undefined {
  if (text === undefined || text === '') return undefined;
  const value = JSON.parse(text);
  if (typeof value !== 'object' || value === null)
    throw new Error('MEAN_FUSION_TEST_FAULTS: expected a JSON object');
  return value as ShardFaults;
}

/** Applies `faults` to one attempt of a shard: throws, or scribbles and hangs until `signal` aborts. */
export async function injectFaults(
  faults: ShardFaults | undefined,
  data: ShardData,
  attemptsMade: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (faults === undefined) return;
  if (
    faults.throwOnShard === data.shard &&
    attemptsMade < (faults.throwAttempts ?? Number.POSITIVE_INFINITY)
  ) {
    throw new Error(`test fault on shard ${data.shard}, attempt ${attemptsMade + 1}`);
  }
  if (faults.hangOnShard === data.shard) {
    const size = itemSize(data.out.dtype);
    const bytes = Math.min(data.end - data.start, 4096) * size;
    const fh = await open(data.out.path, 'r+');
    try {
      await fh.write(new Uint8Array(bytes).fill(0xa5), 0, bytes, data.out.offset + data.start * size);
    } finally {
      await fh.close();
    }
    await new Promise((resolve) => signal?.addEventListener('abort', resolve, { once: true }));
    signal?.throwIfAborted();
  }
}
