/**
 * Drives bench/peers.py: one Python process (see `benchPython`) for the whole job set, one JSON request and
 * one JSON answer per line. Absent Python, numpy or Dask is not an error: the columns then say why they are
 * empty.
 */
import { type ChildProcessByStdio, spawn, spawnSync } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { benchPython } from './util.js';

/** Versions reported by the Python side. */
export interface NumpyInfo {
  readonly python: string;
  readonly numpy: string;
  /** Dask's version, or `null` when it cannot be imported (then `dask_error` says why). */
  readonly dask: string | null;
  readonly dask_error: string | null;
}

/** The Python-side contenders. */
export type PyToolId = 'np-stack' | 'np-add' | 'dask';

/** How the Dask contender runs one job. */
export interface DaskSpec {
  readonly shape: readonly [number, number];
  /** Rows of each chunk along the first axis, in order (they sum to `shape[0]`). */
  readonly chunkRows: readonly number[];
  /** Threads of Dask's threaded scheduler. */
  readonly threads: number;
}

/** Timings (seconds) and the raw output file of one numpy variant on one job. */
export interface NumpyToolResult {
  readonly times: number[];
  readonly out: string;
}

/** A job for the Python side. */
export interface NumpyJob {
  readonly dtype: 'float32' | 'float64';
  readonly n: number;
  /** Raw input files, one per fused array, in fusion order. */
  readonly files: readonly string[];
  /** Directory for the raw outputs. */
  readonly outDir: string;
  /** Seconds of timed runs per variant after the warm-up. */
  readonly budget: number;
  readonly minReps: number;
  readonly maxReps: number;
  /** Runs Dask too (when the Python side has it). */
  readonly dask?: DaskSpec;
}

/** A running bench/peers.py process. */
export class NumpyServer {
  readonly #child: ChildProcessByStdio<Writable, Readable, null>;
  readonly #lines: Interface;
  readonly #pending: ((line: string | null) => void)[] = [];
  #closed = false;

  private constructor(python: string, script: string) {
    this.#child = spawn(python, ['-u', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.#lines = createInterface({ input: this.#child.stdout });
    this.#lines.on('line', (line) => this.#pending.shift()?.(line));
    const fail = (): void => {
      this.#closed = true;
      for (const resolve of this.#pending.splice(0)) resolve(null);
    };
    this.#child.on('exit', fail);
    this.#child.on('error', fail);
  }

  /**
   * Starts the Python side when the benchmarks' Python can import numpy; otherwise returns the reason it
   * cannot.
   *
   * @param script - Absolute path of bench/peers.py.
   */
  static async start(script: string): Promise<{ server: NumpyServer; info: NumpyInfo } | { reason: string }> {
    const python = benchPython();
    const probe = spawnSync(python, ['-c', 'import numpy'], { encoding: 'utf8' });
    if (probe.error) return { reason: `${python} not found (${probe.error.message})` };
    if (probe.status !== 0) return { reason: `${python} cannot import numpy` };
    const server = new NumpyServer(python, script);
    const info = (await server.#request({ op: 'info' })) as NumpyInfo;
    return { server, info };
  }

  /**
   * Runs both numpy variants on one job, and Dask when `job.dask` is set and the Python side has it.
   *
   * @throws {Error} when the Python side reports an error or has exited.
   */
  async run(job: NumpyJob): Promise<Partial<Record<PyToolId, NumpyToolResult>>> {
    const reply = (await this.#request({
      op: 'job',
      dtype: job.dtype,
      n: job.n,
      files: job.files,
      out_dir: job.outDir,
      budget: job.budget,
      min_reps: job.minReps,
      max_reps: job.maxReps,
      dask:
        job.dask === undefined
          ? undefined
          : { shape: job.dask.shape, chunk_rows: job.dask.chunkRows, threads: job.dask.threads },
    })) as { results: Partial<Record<PyToolId, NumpyToolResult>> };
    return reply.results;
  }

  /** Ends the Python process (closes its stdin) and waits for it to exit. */
  async close(): Promise<void> {
    if (this.#closed) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.stdin.end();
    await exited;
  }

  async #request(message: object): Promise<unknown> {
    if (this.#closed) throw new Error('the numpy process has exited');
    const line = await new Promise<string | null>((resolve) => {
      this.#pending.push(resolve);
      this.#child.stdin.write(`${JSON.stringify(message)}\n`);
    });
    if (line === null) throw new Error('the numpy process exited before answering');
    const reply = JSON.parse(line) as { error?: string };
    if (reply.error !== undefined) throw new Error(`numpy side: ${reply.error}`);
    return reply;
  }
}
