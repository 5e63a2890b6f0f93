/**
 * The checkpoint side of the command line: detecting safetensors inputs, and running `fuseCheckpoints`
 * with a progress bar and a summary line.
 */
import { open, stat } from 'node:fs/promises';
import { SingleBar } from 'cli-progress';
import { OptionError } from '../errors.js';
import { fuseCheckpointsAsync } from '../jobs/fuseCheckpoints.js';
import type { CliConfig } from './program.js';
import { formatBytes } from './size.js';

/**
 * True when `path` is a checkpoint input: a directory, a `.safetensors` or `.json` file, or a file whose
 * first bytes look like a safetensors header (a u64 length below 100 MB followed by `{`) rather than the
 * `.npy` magic. Paths that cannot be read are left to the .npy job, which reports them.
 */
export async function isCheckpointInput(path: string): Promise<boolean> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) return /\.(safetensors|json)$/.test(path);
  if (info.isDirectory()) return true;
  if (/\.(safetensors|json)$/.test(path)) return true;
  const head = new Uint8Array(9);
  const fh = await open(path, 'r').catch(() => undefined);
  if (fh === undefined) return false;
  try {
    const { bytesRead } = await fh.read(head, 0, 9, 0);
    if (bytesRead < 9 || head[0] === 0x93) return false;
    const n = new DataView(head.buffer).getBigUint64(0, true);
    return n < 100_000_000n && head[8] === 0x7b;
  } finally {
    await fh.close();
  }
}

/** Runs the checkpoint average the command line asks for; writes the summary (or JSON) to stdout. */
export async function runCheckpointJob(
  config: CliConfig,
  io: { stdout: { write(s: string): unknown }; stderr: { write(s: string): unknown } },
  showBar: boolean,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (config.stacked) throw new OptionError('`stacked: true` applies to .npy inputs only');
  if (config.chunkRows !== undefined) throw new OptionError('`chunkRows` applies to .npy inputs only');
  const bar = showBar
    ? new SingleBar({
        format: 'mean-fusion [{bar}] {percentage}% | {value}/{total} tensors | {rate} | ETA {eta_formatted}',
        stream: io.stderr as NodeJS.WritableStream,
        hideCursor: true,
        clearOnComplete: true,
      })
    : undefined;
  let started = false;
  try {
    const summary = await fuseCheckpointsAsync(
      config.inputs,
      config.output,
      {
        weights: config.weights,
        nan: config.nan,
        exact: config.exact,
        dtype: config.dtype,
        threads: config.threads,
        memoryLimit: config.memoryLimit,
        maxShardSize: config.maxShardSize,
        include: config.include,
        exclude: config.exclude,
        overwrite: config.force,
        signal,
      },
      (p) => {
        if (bar === undefined) return;
        const rate = `${formatBytes(p.bytesRead / Math.max(p.elapsed, 1e-9))}/s`;
        if (!started) {
          bar.start(p.tensors, 0, { rate });
          started = true;
        }
        bar.update(p.tensorsDone, { rate });
      },
    );
    bar?.stop();
    if (config.json) {
      io.stdout.write(
        `${JSON.stringify({
          output: config.output,
          files: summary.files,
          tensors: summary.tensors,
          averaged: summary.averaged,
          copied: summary.copied,
          k: summary.k,
          bytes: summary.bytesRead,
          bytesWritten: summary.bytesWritten,
          seconds: Number(summary.seconds.toFixed(6)),
        })}\n`,
      );
    } else {
      const speed = summary.seconds > 0 ? `, ${formatBytes(summary.bytesRead / summary.seconds)}/s` : '';
      io.stdout.write(
        `${config.output}: mean of ${summary.k} ${summary.k === 1 ? 'checkpoint' : 'checkpoints'}, ${summary.averaged} tensors averaged and ${summary.copied} copied into ${summary.files.length} ${summary.files.length === 1 ? 'file' : 'files'}; ` +
          `read ${formatBytes(summary.bytesRead)} in ${summary.seconds.toFixed(3)} s${speed}\n`,
      );
    }
  } finally {
    bar?.stop();
  }
}
