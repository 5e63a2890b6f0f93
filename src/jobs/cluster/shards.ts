/** Shard planning of a cluster fusion: contiguous element ranges of the output, on row boundaries if possible. */
import type { RowRange } from '../../pool/plan.js';
import { rowCount, rowSize, shapeSize } from '../../tensor/shape.js';

/**
 * Default input + output bytes of one shard when `shards` is not given: 256 MiB. A shard costs one BullMQ
 * hand-off (a few ms on loopback, see bench/cluster.ts) plus opening the files, so it should carry a few
 * hundred ms of work; 256 MiB is ~0.2–0.5 s of fusion on one core.
 */
export const DEFAULT_SHARD_BYTES = 256 * 1024 * 1024;

/** The rows `[rowStart, rowEnd)` a shard touches (for messages), with `rows` of one tensor. */
export function shardRows(
  range: RowRange,
  shape: readonly number[],
): { rowStart: number; rowEnd: number; rows: number } {
  const width = Math.max(rowSize(shape), 1);
  return {
    rowStart: Math.floor(range.start / width),
    rowEnd: Math.ceil(range.end / width),
    rows: rowCount(shape),
  };
}

/** Default shard count: ⌈bytes / DEFAULT_SHARD_BYTES⌉ (at least 1), for `bytes` read and written in all. */
export function defaultShards(bytes: number): number {
  return Math.min(MAX_SHARDS, Math.max(1, Math.ceil(bytes / DEFAULT_SHARD_BYTES)));
}

/**
 * The most shards one fusion takes. Each is a BullMQ job: its data sits in Redis and the coordinator
 * follows it, so the count bounds their memory (a break-it trial's 1,000,000 shards ran the coordinator out
 * of heap after a minute; 100,000 took 104 s and 1.4 GB for a 32 MB job). 10,000 shards of the default
 * 256 MiB each are 2.5 TiB.
 */
export const MAX_SHARDS = 10_000;

/**
 * Splits the elements of a tensor of `shape` into `count` contiguous ranges covering it in order (fewer
 * when there are fewer elements): on row boundaries, spread evenly, when there are at least `count` rows;
 * else on elements. An empty tensor has no shard.
 */
export function planShards(shape: readonly number[], count: number): RowRange[] {
  const elements = shapeSize(shape);
  if (elements === 0) return [];
  const width = rowSize(shape);
  const rows = rowCount(shape);
  const [units, unit] = rows >= count ? [rows, width] : [elements, 1];
  const n = Math.min(count, units);
  const base = Math.floor(units / n);
  const extra = units - base * n;
  const out: RowRange[] = [];
  for (let i = 0, at = 0; i < n; i++) {
    const next = at + base + (i < extra ? 1 : 0);
    out.push({ start: at * unit, end: next * unit });
    at = next;
  }
  return out;
}
