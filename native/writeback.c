/*
 * Writing a large output through the page cache without paying for it twice: Node cannot ask the kernel
 * to start writing a range back, drop its pages from the cache, or reserve a file's blocks; these calls do.
 *
 * Why: an output of gigabytes written with plain pwrite stays dirty in the cache until the final fsync,
 * which then writes all of it at once while nothing else runs, and every page it sits in is one the kernel
 * had to find first (on a virtual machine, often a page the host must back anew: measured 3.2 s for 1 GiB
 * against 0.3 s into pages just freed). Starting writeback as soon as a range is written overlaps the disk
 * with the computation, and dropping ranges once written back hands their pages to the next writes, so the
 * output cycles through a few hot megabytes. Reserving the blocks up front spares the writes the
 * block-by-block allocation of a sparse file. None of them waits for the writes to complete or reports
 * their errors: the final fsync of the atomic commit still does both.
 *
 * Each returns 0 or an errno value, never throws: the TypeScript side (src/jobs/write-behind.ts) stops
 * calling where the system or the file does not support them.
 *
 *   startWriteback(fd, offset, length) -> errno: sync_file_range(SYNC_FILE_RANGE_WRITE)
 *   dropCached(fd, offset, length) -> errno: posix_fadvise(POSIX_FADV_DONTNEED), the range's clean pages
 *   preallocate(fd, offset, length) -> errno: fallocate(fd, 0, …), the file's size unchanged when the range
 *     lies inside it
 */
#if defined(__linux__)
#define _GNU_SOURCE /* sync_file_range, fallocate (before any system header) */
#endif

#include <errno.h>
#include <stdint.h>

#include "napi-args.h"

#if defined(__linux__)
#include <fcntl.h>
#define HAVE_WRITEBACK 1
#endif

static int start_writeback(int fd, int64_t offset, int64_t length) {
#ifdef HAVE_WRITEBACK
  return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE) == 0 ? 0 : errno;
#else
  (void)fd, (void)offset, (void)length;
  return ENOSYS;
#endif
}

static int drop_cached(int fd, int64_t offset, int64_t length) {
#ifdef HAVE_WRITEBACK
  /* Drops the clean pages only: a page still being written back stays, and no error is consumed here
     (waiting with sync_file_range would mark a write error as seen, hiding it from the final fsync). */
  return posix_fadvise(fd, offset, length, POSIX_FADV_DONTNEED);
#else
  (void)fd, (void)offset, (void)length;
  return ENOSYS;
#endif
}

static int preallocate(int fd, int64_t offset, int64_t length) {
#ifdef HAVE_WRITEBACK
  return fallocate(fd, 0, offset, length) == 0 ? 0 : errno;
#else
  (void)fd, (void)offset, (void)length;
  return ENOSYS;
#endif
}

/* Reads (fd, offset, length) and runs op on them; a RangeError for anything but non-negative integers. */
static napi_value range_call(napi_env env, napi_callback_info info, int (*op)(int, int64_t, int64_t)) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  size_t offset, length;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      !index_arg(env, argv[1], &offset) || !index_arg(env, argv[2], &length) || offset > INT64_MAX ||
      length > INT64_MAX - offset) {
    return fail(env, "native kernel: expected (fd, offset, length) as non-negative integers");
  }
  napi_value r;
  CHECK(napi_create_int32(env, op(fd, (int64_t)offset, (int64_t)length), &r));
  return r;
}

static napi_value StartWriteback(napi_env env, napi_callback_info info) {
  return range_call(env, info, start_writeback);
}

static napi_value DropCached(napi_env env, napi_callback_info info) {
  return range_call(env, info, drop_cached);
}

static napi_value Preallocate(napi_env env, napi_callback_info info) {
  return range_call(env, info, preallocate);
}

napi_status mf_define_writeback(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"startWriteback", NULL, StartWriteback, NULL, NULL, NULL, napi_enumerable, NULL},
      {"dropCached", NULL, DropCached, NULL, NULL, NULL, napi_enumerable, NULL},
      {"preallocate", NULL, Preallocate, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
