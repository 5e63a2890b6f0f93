/** Public API of mean-fusion, re-exported by name. */

export {
  CheckpointMismatchError,
  DTypeError,
  EmptyInputError,
  FileError,
  MeanFusionError,
  NpyFormatError,
  OptionError,
  OutputExistsError,
  SafetensorsFormatError,
  ShapeMismatchError,
  TaskError,
  TensorError,
} from './errors.js';
export {
  MeanFusion,
  type MeanFusionConfig,
  type MeanFusionJSON,
  type TensorFunction,
} from './fusion/MeanFusion.js';
export { meanFusion } from './fusion/mean-fusion.js';
export type { MeanFusionOptions, NanPolicy } from './fusion/options.js';
export { encodeNpyHeader, type NpyHeader, parseNpyHeader } from './io/npy/header.js';
export { readNpy, readNpyHeader, readNpyRows } from './io/npy/read.js';
export { createNpyFile, type NpyFileWriter, type NpyWriteOptions, writeNpy } from './io/npy/write.js';
export type { SafetensorsDType } from './io/safetensors/dtypes.js';
export type { SafetensorsEntry, SafetensorsHeader } from './io/safetensors/header.js';
export {
  parseSafetensors,
  readSafetensors,
  readSafetensorsHeader,
  readTensorBytes,
  type SafetensorsTensor,
  safetensorsToTensor,
} from './io/safetensors/read.js';
export { type Checkpoint, openCheckpoint, readSafetensorsIndex } from './io/safetensors/sharded.js';
export { type SafetensorsWriteOptions, writeSafetensors } from './io/safetensors/write.js';
export type { RedisConnection } from './jobs/cluster/connection.js';
export {
  type FuseFilesClusterOptions,
  type FuseFilesClusterProgress,
  type FuseFilesClusterSummary,
  fuseFilesCluster,
  fuseFilesClusterAsync,
} from './jobs/cluster/coordinator.js';
export { RedisUnavailableError, ShardError } from './jobs/cluster/errors.js';
export type { ClusterBackoff } from './jobs/cluster/flow.js';
export { DEFAULT_QUEUE } from './jobs/cluster/protocol.js';
export { DEFAULT_SHARD_BYTES } from './jobs/cluster/shards.js';
export { type ClusterWorker, type ClusterWorkerOptions, startClusterWorker } from './jobs/cluster/worker.js';
export {
  type FuseCheckpointsOptions,
  type FuseCheckpointsProgress,
  type FuseCheckpointsSummary,
  fuseCheckpoints,
  fuseCheckpointsAsync,
} from './jobs/fuseCheckpoints.js';
export {
  DEFAULT_MEMORY_LIMIT,
  type FuseFilesOptions,
  type FuseFilesProgress,
  type FuseFilesSummary,
  fuseFiles,
  fuseFilesAsync,
} from './jobs/fuseFiles.js';
export { MIN_MEMORY_LIMIT, type ThreadLimit } from './jobs/memory-budget.js';
export { type KernelInfo, kernelInfo } from './kernels/native.js';
export { type FuseMeanOptions, fuseMean } from './operators/fuseMean.js';
export type { StreamMeanOptions } from './operators/internal/stream-options.js';
export type { StreamItem, WeightedTensor } from './operators/internal/stream-reader.js';
export { type RunningMeanOptions, runningMean } from './operators/runningMean.js';
export { type WindowMeanOptions, windowMean } from './operators/windowMean.js';
export { ChunkError, PoolClosedError } from './pool/errors.js';
export {
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_INLINE_BYTES,
  type FuseOptions,
  FusionPool,
  type FusionPoolOptions,
  maxThreads,
  type RunTaskOptions,
} from './pool/FusionPool.js';
export {
  DEFAULT_CHUNK_BYTES,
  NATIVE_CHUNK_BYTES,
  type PlanChunksOptions,
  planChunks,
  type RowRange,
} from './pool/plan.js';
export type { FuseChunkResult, FuseChunkTask } from './pool/protocol.js';
export { type ChunkResult, runChunks$ } from './pool/run-chunks.js';
export { workerPath } from './pool/worker-path.js';
export {
  type AllocateOptions,
  allocate,
  disposeTensor,
  isInHeap,
  isShared,
  toShared,
} from './tensor/alloc.js';
export {
  type AnyTypedArray,
  type BigIntArray,
  DTYPES,
  type DType,
  type FloatDType,
  type NumberDType,
  type TypedArray,
} from './tensor/dtype.js';
export {
  decodeBFloat16,
  decodeFloat16,
  encodeBFloat16,
  encodeFloat16,
  type HalfDType,
  halfToFloat32,
  toHalfBits,
} from './tensor/half.js';
export { formatShape, shapeSize } from './tensor/shape.js';
export {
  type AnyTensor,
  fromNested,
  type NestedArray,
  type Tensor,
  type TensorLike,
  tensor,
} from './tensor/tensor.js';
