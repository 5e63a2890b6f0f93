/**
 * Drives bench/peers.py: one Python process for the whole job set, one JSON request and one JSON answer
 * per line. Absent python3 or numpy is not an error: the numpy columns then say why they are empty.
 */
import { type ChildProcessByStdio, spawn, spawnSync } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

/** Versions reported by the Python side. */
export interface NumpyInfo {
  readonly python: string;
  readonly numpy: string;
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
}

/** A running bench/peers.py process. */
export class NumpyServer {
  readonly #child: ChildProcessByStdio<Writable, Readable, null>;
  readonly #lines: Interface;
  readonly #pending: ((line: string | null) => void)[] = [];
  #closed = false;

  private constructor(script: string) {
    this.#child = spawn('python3', ['-u', script], { stdio: ['pipe', 'pipe', 'inherit'] });
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
   * Starts the Python side when python3 can import numpy; otherwise returns the reason it cannot.
   *
   * @param script - Absolute path of bench/peers.py.
   */
  static async start(script: string): Promise<{ server: NumpyServer; info: NumpyInfo } | { reason: string }> {
    const probe = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
    if (probe.error) return { reason: `python3 not found (${probe.error.message})` };
    if (probe.status !== 0) return { reason: 'python3 cannot import numpy' };
    const server = new NumpyServer(script);
    const info = (await server.#request({ op: 'info' })) as NumpyInfo;
    return { server, info };
  }

  /**
   * Runs both numpy variants on one job.
   *
   * @throws {Error} when the Python side reports an error or has exited.
   */
  async run(job: NumpyJob): Promise<Record<'np-stack' | 'np-add', NumpyToolResult>> {
    const reply = (await this.#request({
      op: 'job',
      dtype: job.dtype,
      n: job.n,
      files: job.files,
      out_dir: job.outDir,
      budget: job.budget,
      min_reps: job.minReps,
      max_reps: job.maxReps,
    })) as { results: Record<'np-stack' | 'np-add', NumpyToolResult> };
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
