import { catchError, map, of, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { fuseMean, runningMean, type Tensor, tensor, windowMean } from '../../src/index.js';

const s = (x: number): Tensor => tensor(new Float64Array([x]));
const value = map((t: Tensor) => t.data[0]);
const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

describe('operators in marble time', () => {
  it('runningMean emits per input, completes with the source, and unsubscribes at completion', () => {
    scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('a-b-c|', { a: s(1), b: s(3), c: s(8) });
      expectObservable(src.pipe(runningMean(), value)).toBe('a-b-c|', { a: 1, b: 2, c: 4 });
      expectSubscriptions(src.subscriptions).toBe('^----!');
    });
  });

  it("runningMean with emit: 'complete' emits once at completion", () => {
    scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('a-b-c|', { a: s(1), b: s(3), c: s(8) });
      expectObservable(src.pipe(runningMean({ emit: 'complete' }), value)).toBe('-----(x|)', { x: 4 });
      expectSubscriptions(src.subscriptions).toBe('^----!');
    });
  });

  it('a shape change errors the stream at that frame and unsubscribes the source', () => {
    scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const bad = tensor(new Float64Array([1, 2]));
      const src = cold('a-b-c-a|', { a: s(1), b: s(3), c: bad });
      const out = src.pipe(
        runningMean(),
        value,
        catchError((e: Error) => of(e.message)),
      );
      expectObservable(out).toBe('a-b-(e|)', {
        a: 1,
        b: 2,
        e: 'stream item 2 has shape (2,) but stream item 0 has shape (1,); every tensor of a stream must share one shape',
      });
      expectSubscriptions(src.subscriptions).toBe('^---!');
    });
  });

  it('unsubscribing downstream (take) tears the source down at once', () => {
    scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('a-b-c-d|', { a: s(2), b: s(4), c: s(6), d: s(8) });
      expectObservable(src.pipe(windowMean(2), value, take(2))).toBe('--x-(y|)', { x: 3, y: 5 });
      expectSubscriptions(src.subscriptions).toBe('^---!');
    });
  });

  it('windowMean while filling, and fuseMean without a pool', () => {
    scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('a-b-c|', { a: s(2), b: s(4), c: s(9) });
      expectObservable(src.pipe(windowMean(2, { emitWhileFilling: true }), value)).toBe('a-b-c|', {
        a: 2,
        b: 3,
        c: 6.5,
      });
      const groups = cold('x--y|', { x: [s(1), s(2)], y: [s(5), s(7), s(0)] });
      expectObservable(groups.pipe(fuseMean({ weights: undefined }), value)).toBe('x--y|', { x: 1.5, y: 4 });
      const unsub = '--!';
      expectObservable(groups.pipe(fuseMean(), value), unsub).toBe('x-', { x: 1.5 });
      expectSubscriptions(groups.subscriptions).toBe(['^---!', '^-!']);
      expectSubscriptions(src.subscriptions).toBe('^----!');
    });
  });
});
