/**
 * The `mean-fusion` command: parse, call `fuseFiles`, render progress, choose the exit code. Thin on
 * purpose; it never exits the process itself (see main.ts).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { SingleBar } from 'cli-progress';
import { CommanderError } from 'commander';
import { MeanFusionError } from '../errors.js';
import type { FuseFilesClusterProgress } from '../jobs/cluster/coordinator.js';
import { type FuseFilesProgress, fuseFilesAsync } from '../jobs/fuseFiles.js';
import type { ThreadLimit } from '../jobs/memory-budget.js';
import { maxThreads } from '../pool/FusionPool.js';
import { formatShape } from '../tensor/shape.js';
import { isCheckpointInput, runCheckpointJob } from './checkpoint-job.js';
import { type CliConfig, configOf, createProgram } from './program.js';
import { formatBytes } from './size.js';

/** Where the command writes; the process's streams in main.ts, buffers in tests. */
export interface CliIO {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown; isTTY?: boolean };
  /** Aborts the job (main.ts wires it to SIGINT/SIGTERM). */
  readonly signal?: AbortSignal;
}

/** Exit codes: 0 success, 1 failure of the job, 2 bad command line, 130 interrupted. */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/** The package version, read from the package.json above this module (src/ or dist/src/). */
function version(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8'));
      if (pkg.name === 'mean-fusion') return String(pkg.version);
    } catch {
      // Not at this level: try the next.
    }
  }
  return 'unknown';
}

/** Why fewer threads ran than asked for, in words. */
const LIMIT_REASONS: Readonly<Record<ThreadLimit, string>> = {
  chunks: 'the job has fewer chunks than that',
  memoryLimit: '--memory-limit holds no more (each thread costs ~16 MiB)',
  maxThreads: `at most ${maxThreads()} threads run (4 × the cores, at least 16)`,
};

/** Library names of options → the flags a CLI user typed. */
const FLAGS: readonly [RegExp, string][] = [
  [/pass `overwrite: true` to replace it/g, 'use --force to replace it'],
  [/`weights(\[\d+\])?`/g, '--weights'],
  [/`threads`/g, '--threads'],
  [/`chunkRows`/g, '--chunk-rows'],
  [/`memoryLimit`/g, '--memory-limit'],
  [/`nan`/g, '--nan'],
  [/`exact`/g, '--exact'],
  [/`dtype`/g, '--dtype'],
  [/`stacked: true`/g, '--stacked'],
  [/`chunkRows`/g, '--chunk-rows'],
  [/`maxShardSize`/g, '--max-shard-size'],
  [/`include`/g, '--include'],
  [/`exclude`/g, '--exclude'],
  [/`output`/g, '--output'],
  [/`shards`/g, '--shards'],
  [/`attempts`/g, '--attempts'],
  [/`queue`/g, '--queue'],
];

/** Flags of the local job that mean nothing to a cluster coordinator (the workers set them). */
const LOCAL_ONLY = [
  ['threads', '--threads'],
  ['chunkRows', '--chunk-rows'],
  ['memoryLimit', '--memory-limit'],
] as const;
const CLUSTER_ONLY = [
  ['queue', '--queue'],
  ['shards', '--shards'],
  ['attempts', '--attempts'],
] as const;

function cliMessage(error: unknown): string {
  let text = error instanceof Error ? error.message : String(error);
  if (error instanceof MeanFusionError) for (const [re, flag] of FLAGS) text = text.replace(re, flag);
  return text.split('\n')[0];
}

/**
 * Runs the command line `argv` (without the node and script paths).
 *
 * @returns The exit code: {@link EXIT}.
 */
export async function run(argv: readonly string[], io: CliIO): Promise<number> {
  // The cluster's modules (BullMQ, ioredis: ~110 ms and ~20 MiB of heap) load only for the commands that use
  // them, so a local job starts sooner and keeps that memory for its chunks under --memory-limit.
  if (argv[0] === 'worker') return (await import('./worker.js')).runWorker(argv.slice(1), version(), io);
  const program = createProgram(version(), {
    writeOut: (s) => io.stdout.write(s),
    writeErr: (s) => io.stderr.write(s),
  });
  try {
    program.parse(argv as string[], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    throw error;
  }
  const config = configOf(program);
  const misplaced =
    config.cluster === undefined
      ? CLUSTER_ONLY.find(([key]) => config[key] !== undefined)?.[1]
      : LOCAL_ONLY.find(([key]) => config[key] !== undefined)?.[1];
  if (misplaced !== undefined) {
    io.stderr.write(
      config.cluster === undefined
        ? `mean-fusion: ${misplaced} needs --cluster\n`
        : `mean-fusion: ${misplaced} does not apply with --cluster: the workers set their own threads and memory (mean-fusion worker --threads N --memory-limit SIZE)\n`,
    );
    return EXIT.usage;
  }
  const showBar = config.progress !== false && io.stderr.isTTY === true;
  try {
    if ((await Promise.all(config.inputs.map(isCheckpointInput))).some((c) => c)) {
      await runCheckpointJob(config, io, showBar, io.signal);
      return EXIT.ok;
    }
  } catch (error) {
    return failure(error, config, io);
  }
  const bar = showBar
    ? new SingleBar({
        format:
          'mean-fusion [{bar}] {percentage}% | {value}/{total} rows | {rate} | {threads} | ETA {eta_formatted}',
        stream: io.stderr as NodeJS.WritableStream,
        hideCursor: true,
        clearOnComplete: true,
      })
    : undefined;
  let started = false;
  const requested = config.threads ?? availableParallelism();
  /** "2 threads", or "1 of 200 threads" when fewer ran than asked for. */
  const threadsText = (threads: number) =>
    `${threads < requested ? `${threads} of ${requested}` : threads} thread${requested === 1 ? '' : 's'}`;
  try {
    const onProgress = (p: FuseFilesProgress | FuseFilesClusterProgress) => {
      if (bar === undefined) return;
      const rate = `${formatBytes(p.bytesRead / Math.max(p.elapsed, 1e-9))}/s`;
      const threads = 'threads' in p ? threadsText(p.threads) : `${p.shardsDone}/${p.shards} shards`;
      if (!started) {
        bar.start(p.rows, 0, { rate, threads });
        started = true;
      }
      bar.update(p.rowsDone, { rate, threads });
    };
    const common = {
      weights: config.weights,
      nan: config.nan,
      exact: config.exact,
      dtype: config.dtype,
      stacked: config.stacked,
      overwrite: config.force,
      signal: io.signal,
    };
    const summary =
      config.cluster === undefined
        ? await fuseFilesAsync(
            config.inputs,
            config.output,
            {
              ...common,
              threads: config.threads,
              chunkRows: config.chunkRows,
              memoryLimit: config.memoryLimit,
            },
            onProgress,
          )
        : await (await import('../jobs/cluster/coordinator.js')).fuseFilesClusterAsync(
            config.inputs,
            config.output,
            {
              ...common,
              connection: config.cluster,
              queue: config.queue,
              shards: config.shards,
              attempts: config.attempts,
            },
            onProgress,
          );
    bar?.stop();
    // Fewer threads than asked for: say so when the user asked (-t) or the memory limit decided.
    if (
      'threadsLimitedBy' in summary &&
      summary.threadsLimitedBy !== undefined &&
      !config.json &&
      (config.threads !== undefined || summary.threadsLimitedBy === 'memoryLimit')
    ) {
      io.stderr.write(
        `mean-fusion: ran on ${threadsText(summary.threads)}: ${LIMIT_REASONS[summary.threadsLimitedBy]}\n`,
      );
    }
    if (config.json) {
      io.stdout.write(
        `${JSON.stringify({
          output: summary.output,
          shape: summary.shape,
          dtype: summary.dtype,
          k: summary.k,
          bytesRead: summary.bytesRead,
          bytesWritten: summary.bytesWritten,
          seconds: Number(summary.seconds.toFixed(6)),
          ...('shards' in summary
            ? { shards: summary.shards }
            : {
                threads: summary.threads,
                threadsRequested: summary.threadsRequested,
                threadsLimitedBy: summary.threadsLimitedBy ?? null,
              }),
        })}\n`,
      );
    } else {
      const speed = summary.seconds > 0 ? `, ${formatBytes(summary.bytesRead / summary.seconds)}/s` : '';
      io.stdout.write(
        `${summary.output}: mean of ${summary.k} ${summary.k === 1 ? 'array' : 'arrays'} of shape ${formatShape(summary.shape)} → ${summary.dtype}; ` +
          `read ${formatBytes(summary.bytesRead)} in ${summary.seconds.toFixed(3)} s${speed} on ${'shards' in summary ? `${summary.shards} shards` : threadsText(summary.threads)}\n`,
      );
    }
    return EXIT.ok;
  } catch (error) {
    bar?.stop();
    return failure(error, config, io);
  }
}

/** Reports a failed job on stderr and picks its exit code. */
function failure(error: unknown, config: CliConfig, io: CliIO): number {
  if (io.signal?.aborted && error === io.signal.reason) {
    io.stderr.write('mean-fusion: interrupted; no output written\n');
    return EXIT.interrupted;
  }
  io.stderr.write(`mean-fusion: error: ${cliMessage(error)}\n`);
  if (config.debug && error instanceof Error && error.stack !== undefined)
    io.stderr.write(`${error.stack}\n`);
  return EXIT.failed;
}
