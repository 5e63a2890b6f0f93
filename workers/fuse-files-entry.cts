/**
 * The file Piscina loads for `fuseFiles` tasks: CommonJS, loading the ESM worker (`fuse-files.js`) with
 * `import()`, for the reason given in `fuse-entry.cts` (a thread terminated during require(esm) can abort
 * the process on Node 20).
 */
export default import('./fuse-files.js').then((m) => m.default);
