/**
 * Tracks when a Piscina pool's threads have really stopped. Piscina terminates the thread of an aborted
 * task and reports it ('workerDestroy') when it calls `Worker.terminate()`, which is asynchronous: the
 * thread may still run, and write into shared memory, for a moment. A job waits for {@link ThreadExits.stopped}
 * before it rejects, so nothing is written after its promise settles; the kernel heap's scratch claims of
 * a thread are released once it has exited.
 */
import type { Worker } from 'node:worker_threads';

/** The part of Piscina used here. */
interface PiscinaThreads {
  readonly threads: readonly Worker[];
  on(event: 'workerCreate' | 'workerDestroy', listener: (worker: { readonly id: number }) => void): unknown;
}

/** Exit tracking of one pool's threads. */
export class ThreadExits {
  /** Exit of each live thread, by thread id (recorded when Piscina reports it ready). */
  readonly #exits = new Map<number, Promise<void>>();
  /** Exits of the threads being terminated. */
  readonly #stopping = new Set<Promise<void>>();

  /**
   * @param piscina - The pool whose threads to follow (attach before any task runs).
   * @param onExit - Called with a thread's id once it has exited after being terminated or dying.
   */
  constructor(piscina: PiscinaThreads, onExit: (threadId: number) => void) {
    piscina.on('workerCreate', (worker) => {
      const id = worker.id;
      const thread = piscina.threads.find((t) => t.threadId === id);
      if (thread !== undefined) {
        this.#exits.set(id, new Promise((resolve) => thread.once('exit', () => resolve())));
      }
    });
    piscina.on('workerDestroy', (worker) => {
      // Read the id now: Node reports -1 once the thread has stopped.
      const id = worker.id;
      const exited = this.#exits.get(id);
      // A thread that never became ready never ran a task.
      if (exited === undefined) return;
      this.#exits.delete(id);
      const done: Promise<void> = exited.then(() => {
        this.#stopping.delete(done);
        onExit(id);
      });
      this.#stopping.add(done);
    });
  }

  /** Resolves once every thread being terminated at the time of the call has exited. */
  stopped(): Promise<void> {
    return Promise.all(this.#stopping).then(() => undefined);
  }
}
