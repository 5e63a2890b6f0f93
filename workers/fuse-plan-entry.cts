/**
 * The file Piscina loads for plan tasks: CommonJS, loading the ESM worker (`fuse-plan.js`) with `import()`,
 * for the reason given in `fuse-entry.cts` (a thread terminated during require(esm) can abort the process
 * on Node 20).
 */
export default import('./fuse-plan.js').then((m) => m.default);
