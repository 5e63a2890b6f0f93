/**
 * The `mean-fusion` command: parse, call `fuseFiles`, render progress, choose the exit code. Thin on
 * purpose; it never exits the process itself (see main.ts).
 */
import { readFileSync } from 'node:fs';
import { SingleBar } from 'cli-progress';
import { CommanderError } from 'commander';
import { MeanFusionError } from '../errors.js';
import { fuseFilesAsync } from '../jobs/fuseFiles.js';
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

/** Library names of options → the flags a CLI user typed. */
const FLAGS: readonly [RegExp, string][] = [
  [/pass `overwrite: true` to replace it/g, 'use --force to replace it'],
  [/`weights(\[\d+\])?`/g, '--weights'],
  [/`threads`/g, '--threads'],
  [/`chunkRows`/g, '--chunk-rows'],
  [/`memoryLimit`/g, '--memory-limit'],
  [/`nan`/g, '--nan'],
  [/`dtype`/g, '--dtype'],
  [/`stacked: true`/g, '--stacked'],
  [/`chunkRows`/g, '--chunk-rows'],
  [/`maxShardSize`/g, '--max-shard-size'],
  [/`include`/g, '--include'],
  [/`exclude`/g, '--exclude'],
  [/`output`/g, '--output'],
];

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
        format: 'mean-fusion [{bar}] {percentage}% | {value}/{total} rows | {rate} | ETA {eta_formatted}',
        stream: io.stderr as NodeJS.WritableStream,
        hideCursor: true,
        clearOnComplete: true,
      })
    : undefined;
  let started = false;
  try {
    const summary = await fuseFilesAsync(
      config.inputs,
      config.output,
      {
        weights: config.weights,
        nan: config.nan,
        dtype: config.dtype,
        stacked: config.stacked,
        threads: config.threads,
        chunkRows: config.chunkRows,
        memoryLimit: config.memoryLimit,
        overwrite: config.force,
        signal: io.signal,
      },
      (p) => {
        if (bar === undefined) return;
        const rate = `${formatBytes(p.bytesRead / Math.max(p.elapsed, 1e-9))}/s`;
        if (!started) {
          bar.start(p.rows, 0, { rate });
          started = true;
        }
        bar.update(p.rowsDone, { rate });
      },
    );
    bar?.stop();
    if (config.json) {
      io.stdout.write(
        `${JSON.stringify({
          output: summary.output,
          shape: summary.shape,
          dtype: summary.dtype,
          k: summary.k,
          bytes: summary.bytesRead,
          bytesWritten: summary.bytesWritten,
          seconds: Number(summary.seconds.toFixed(6)),
        })}\n`,
      );
    } else {
      const speed = summary.seconds > 0 ? `, ${formatBytes(summary.bytesRead / summary.seconds)}/s` : '';
      io.stdout.write(
        `${summary.output}: mean of ${summary.k} ${summary.k === 1 ? 'array' : 'arrays'} of shape ${formatShape(summary.shape)} → ${summary.dtype}; ` +
          `read ${formatBytes(summary.bytesRead)} in ${summary.seconds.toFixed(3)} s${speed}\n`,
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
