// Issue 14: a misspelt option name is refused with an OptionError naming the key, in every function that
// takes options (it used to run silently without the option), and a pool of absurdly many threads is refused.
import { availableParallelism } from 'node:os';
import { lastValueFrom, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { OptionError } from '../src/errors.js';
import { MeanFusion } from '../src/fusion/MeanFusion.js';
import { meanFusion } from '../src/fusion/mean-fusion.js';
import { createNpyFile, writeNpy } from '../src/io/npy/write.js';
import { fuseFilesAsync } from '../src/jobs/fuseFiles.js';
import { fuseMean } from '../src/operators/fuseMean.js';
import { FusionPool, maxThreads } from '../src/pool/FusionPool.js';
import { planChunks } from '../src/pool/plan.js';
import { allocate } from '../src/tensor/alloc.js';
import { tensor } from '../src/tensor/tensor.js';

const a = tensor(new Float64Array([1, 2]));
const b = tensor(new Float64Array([3, 4]));

function unknownKey(fn: () => unknown, key: string, where: string): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(OptionError);
  expect((error as OptionError).code).toBe('ERR_OPTION');
  expect((error as Error).message).toContain(`Unknown option \`${key}\` of ${where}`);
}

describe('unknown option keys', () => {
  it('meanFusion refuses `wieghts` and suggests `weights`', () => {
    const bad = { wieghts: [1, 3] } as never;
    unknownKey(() => meanFusion([a, b], bad), 'wieghts', 'meanFusion');
    expect(() => meanFusion([a, b], bad)).toThrow('did you mean `weights`?');
    // An unknown key with the value undefined is still a typo.
    unknownKey(() => meanFusion([a, b], { nann: undefined } as never), 'nann', 'meanFusion');
    // The known keys still work.
    expect([...meanFusion([a, b], { weights: [1, 3], nan: 'omit', dtype: 'float64' }).data]).toEqual([
      2.5, 3.5,
    ]);
  });

  it('MeanFusion: constructor config and forwardAsync options', async () => {
    unknownKey(() => new MeanFusion({ weight: [1, 2] } as never), 'weight', 'MeanFusion');
    const pool = new FusionPool({ threads: 1 });
    try {
      await expect(
        new MeanFusion().forwardAsync([a, b], { pool, signall: undefined } as never),
      ).rejects.toThrow('Unknown option `signall` of MeanFusion.forwardAsync');
      unknownKey(() => new FusionPool({ thread: 2 } as never), 'thread', 'FusionPool');
      await expect(pool.fuse([a, b], { chunkrows: 1 } as never)).rejects.toThrow(
        'Unknown option `chunkrows` of FusionPool.fuse (did you mean `chunkRows`?)',
      );
      await expect(lastValueFrom(pool.fuse$([a, b], { wights: [1, 1] } as never))).rejects.toThrow(
        'Unknown option `wights` of FusionPool.fuse',
      );
      await expect(pool.runTask({}, { filenme: 'x' } as never)).rejects.toThrow(
        'Unknown option `filenme` of FusionPool.runTask',
      );
      // Known keys pass.
      expect([...(await pool.fuse([a, b], { chunkRows: 1, signal: undefined })).data]).toEqual([2, 3]);
    } finally {
      await pool.close();
    }
  });

  it('fuseFiles, fuseMean, allocate, createNpyFile, writeNpy, planChunks', async () => {
    await expect(fuseFilesAsync(['x.npy'], 'y.npy', { memorylimit: 1 } as never)).rejects.toThrow(
      'Unknown option `memorylimit` of fuseFiles (did you mean `memoryLimit`?)',
    );
    unknownKey(() => fuseMean({ concurency: 2 } as never), 'concurency', 'fuseMean');
    unknownKey(() => allocate('float64', [2], { sharde: true } as never), 'sharde', 'allocate');
    await expect(createNpyFile('z.npy', 'float64', [1], { force: true } as never)).rejects.toThrow(
      'Unknown option `force` of createNpyFile',
    );
    await expect(writeNpy('z.npy', a, { overwrit: true } as never)).rejects.toThrow(OptionError);
    unknownKey(() => planChunks(4, 8, { threads: 1, rows: 2 } as never), 'rows', 'planChunks');
    // fuseMean still fuses with its known options.
    const out = await lastValueFrom(of([a, b]).pipe(fuseMean({ weights: [1, 3] })));
    expect([...out.data]).toEqual([2.5, 3.5]);
  });
});

describe('FusionPool thread count', () => {
  it('refuses more than maxThreads() threads, naming the maximum', () => {
    const max = maxThreads();
    expect(max).toBe(Math.max(16, 4 * availableParallelism()));
    for (const threads of [1e6, max + 1]) {
      let error: unknown;
      try {
        new FusionPool({ threads });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(OptionError);
      expect((error as Error).message).toContain(`Expected \`threads\` to be an integer from 1 to ${max}`);
      expect((error as Error).message).toContain(`got \`${threads}\` (number)`);
    }
  });

  it('accepts maxThreads() threads (started on demand, so this costs one thread)', async () => {
    const pool = new FusionPool({ threads: maxThreads() });
    expect(pool.threads).toBe(maxThreads());
    await pool.close();
  });
});
