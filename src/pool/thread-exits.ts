/**
 * Tracks when a Piscina pool's terminated threads have really stopped. Piscina terminates the thread of
 * an aborted task and reports it ('workerDestroy') when it calls `Worker.terminate()`, which is
 * asynchronous: the thread may still run, and write into shared memory, for a moment. A job waits for
 * {@link ThreadExits.stopped} before it rejects, so nothing is written after its promise settles; the
 * kernel heap's scratch claims of a thread are released once it has exited.
 */
import type { Worker } from 'node:worker_threads';

/** The part of Piscina used here. */
interface PiscinaThreads {
  readonly threads: readonly Worker[];
  on(event: 'workerDestroy', listener: (worker: { readonly id: number }) => void): unknown;
}

/** Exit tracking of one pool's terminated threads. */
export class ThreadExits {
  /** Exits of the threads being terminated. */
  readonly #stopping = new Set<Promise<void>>();

  /**
   * @param piscina - The pool whose threads to follow.
   * @param onExit - Called with a thread's id once it has exited after being terminated or dying.
   */
  constructor(piscina: PiscinaThreads, onExit: (threadId: number) => void) {
    piscina.on('workerDestroy', (worker) => {
      // Piscina emits this inside destroy(), before it drops the thread from `threads`, and Node keeps a
      // Worker's threadId until just before its 'exit' event: a thread found here has not emitted 'exit'
      // yet. (Threads still starting count too: Piscina hands them tasks.)
      const id = worker.id;
      const thread = id < 0 ? undefined : piscina.threads.find((t) => t.threadId === id);
      if (thread === undefined) {
        if (id >= 0) onExit(id);
        return;
      }
      const done: Promise<void> = new Promise<void>((resolve) => thread.once('exit', () => resolve())).then(
        () => {
          this.#stopping.delete(done);
          onExit(id);
        },
      );
      this.#stopping.add(done);
    });
  }

  /** Resolves once every thread being terminated at the time of the call has exited. */
  stopped(): Promise<void> {
    return Promise.all(this.#stopping).then(() => undefined);
  }
}
