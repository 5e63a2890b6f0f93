/**
 * The file Piscina loads for the fusion pool's threads: CommonJS, so Piscina's `require()` of it does not
 * go through Node's require(esm), and the ESM worker (`fuse.js`) is loaded with `import()` instead.
 *
 * Why: on Node 20, terminating a thread (an aborted task) while require(esm) instantiates its module graph
 * can abort the whole process (V8 "IsGraphAsync … must be used on an instantiated module"; about 1 in 100
 * aborts of freshly started threads on the development machine), while a termination during `import()`
 * is clean (900 aborts, no crash). Piscina awaits the exported promise and caches the function it yields.
 */
export default import('./fuse.js').then((m) => m.default);
