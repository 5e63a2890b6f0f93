/*
 * The plain mean read straight from input files' pages (mmap), as numpy's mmap_mode='r' reads them: no
 * copy from the page cache into a buffer. Each call maps the byte ranges of one chunk of every input, runs
 * the batch kernel (mean.c) into the caller's output buffer and unmaps them again, so the mapped pages count
 * against the process only while the call runs, and no mapped memory is ever visible to JavaScript.
 *
 * A file that is shorter than the range (truncated since its header was read) is refused before mapping.
 * One truncated while the call runs would raise SIGBUS on the next touch of a page past its new end: a
 * SIGBUS handler (installed once, chained to any earlier one) jumps back out of the call on the thread that
 * was reading mapped pages, which then reports failure, so the caller reads the chunk with positioned reads
 * and reports the truncation as an error, instead of the process dying.
 *
 * The half kernel's chunks (mf_mean_files_half) are read instead, in cache-sized steps (with_read says why).
 */
#if defined(__unix__) || defined(__APPLE__)
#define _DEFAULT_SOURCE /* madvise, MADV_SEQUENTIAL (before any system header) */
#endif

#include "files.h"

#include "exact.h"
#include "half.h"

#include <string.h>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define HAVE_MMAP 1
#endif

#include <stdlib.h>

#ifdef HAVE_MMAP
/* Where a SIGBUS on this thread's mapped pages returns to (NULL when this thread reads no mapping). */
static __thread sigjmp_buf *bus_return;
static struct sigaction previous_bus;
static pthread_once_t bus_once = PTHREAD_ONCE_INIT;

static void on_sigbus(int sig, siginfo_t *info, void *context) {
  if (bus_return != NULL) siglongjmp(*bus_return, 1);
  /* Not a mapped read of ours: behave as before this handler was installed. */
  if (previous_bus.sa_flags & SA_SIGINFO) {
    if (previous_bus.sa_sigaction != NULL) previous_bus.sa_sigaction(sig, info, context);
    return;
  }
  if (previous_bus.sa_handler == SIG_IGN) return;
  if (previous_bus.sa_handler == SIG_DFL || previous_bus.sa_handler == NULL) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  previous_bus.sa_handler(sig);
}

static void install_bus_handler(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &previous_bus);
}
#endif

#ifdef HAVE_MMAP
static const size_t ITEM[] = {8, 4, 1, 1, 2, 2, 4, 4, 2, 2};

/* What runs on the mapped inputs: the float kernels (mf_mean_files) or the half kernel (mf_mean_files_half). */
typedef struct {
  void *out;
  int out_dtype; /* MF_F64, MF_F32, MF_F16 or MF_BF16 */
  int32_t *flags;
  size_t cap;
  size_t *nflag;
  int exact; /* the exact mode (exact.h): flags are the elements it could not certify */
} mapped_job;

static int run_kernel(const mf_input *in, size_t k, size_t count, const mapped_job *job) {
  if (job->out_dtype == MF_F16 || job->out_dtype == MF_BF16) return mf_mean_half(in, k, job->out, job->out_dtype, count);
  for (size_t j = 0; j < k; j++) {
    if (in[j].dtype == MF_F16 || in[j].dtype == MF_BF16) return mf_mean_half(in, k, job->out, job->out_dtype, count);
  }
  if (job->exact) {
    size_t reached = mf_mean_exact(in, k, job->out, job->out_dtype == MF_F32, 0, count, job->flags, job->cap,
                                   job->nflag);
    return reached == count ? 0 : 1;
  }
  if (job->out_dtype == MF_F32) {
    size_t reached = mf_mean_f32(in, k, (float *)job->out, 0, count, job->flags, job->cap, job->nflag);
    return reached == count ? 0 : 1; /* 1: more flagged elements than fit; the caller redoes the chunk */
  }
  *job->nflag = mf_mean_f64(in, k, (double *)job->out, 0, count);
  return 0;
}

/*
 * The page cache of large files is held in folios of up to 2 MiB (FileHugePages in /proc/meminfo), and the
 * kernel maps a whole such folio with one page-middle-directory entry instead of 512 page-table entries,
 * but only where the mapping's address is congruent to its file offset modulo 2 MiB and the mapping covers
 * the folio. An address the kernel picks for a chunk mapping (1-20 MiB at an arbitrary file offset) is
 * congruent by chance only, so each chunk paid a page-table entry per 4 KiB page on mapping and again on
 * unmapping. The planner puts chunk bounds on 2 MiB boundaries of the files (src/jobs/folio-ranges.ts), so a
 * congruent mapping is folio-mapped from end to end. Measured on the 2-core machine (plain C harness, 8 inputs
 * of 256 MiB float64 in the page cache, one thread): 0.17-0.19 s for the job with the kernel's addresses and
 * 1.75 MiB row chunks, 0.10-0.13 s with congruent mappings of 2 MiB-aligned chunks.
 */
#define FOLIO_SPAN ((size_t)2 << 20)

#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif

/*
 * mmap(NULL, len, PROT_READ, MAP_SHARED, fd, at) at an address congruent to `at` modulo FOLIO_SPAN when the
 * mapping spans at least one (see above): find a free stretch of address space by reserving len +
 * FOLIO_SPAN (rounded to whole pages), release it, and ask for the file at the congruent address inside it
 * as a hint (MAP_FIXED_NOREPLACE where defined). Nothing is ever mapped over: if another thread took that
 * address in between, the kernel refuses it or places the file elsewhere; after a few tries the chunk is
 * mapped at the kernel's address instead, merely without the folio entries.
 */
static void *map_congruent(int fd, uint64_t at, size_t len, size_t page) {
  if (len < FOLIO_SPAN) return mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)at);
  size_t span = ((len + page - 1) & ~(page - 1)) + FOLIO_SPAN;
  /* Two threads mapping chunks at once take each other's released stretch now and then (~1 in 10 with
     two threads): try a fresh stretch a few times before settling for the kernel's address. */
  for (int attempt = 0; attempt < 3; attempt++) {
    char *reserved = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (reserved == MAP_FAILED) break;
    char *want = reserved + ((at - (uint64_t)(uintptr_t)reserved) & (FOLIO_SPAN - 1));
    munmap(reserved, span);
#ifdef MAP_FIXED_NOREPLACE
    void *p = mmap(want, len, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, (off_t)at);
#else
    void *p = mmap(want, len, PROT_READ, MAP_SHARED, fd, (off_t)at);
#endif
    if (p == (void *)want) return p;
    if (p != MAP_FAILED) munmap(p, len); /* a kernel that took the address as a hint put it elsewhere */
  }
  return mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)at);
}

/* Maps the chunk of every input, runs the job on the mapped pages (SIGBUS-guarded) and unmaps them. */
static int with_mapped(const mf_file *files, size_t k, size_t count, const mapped_job *job) {
  long page = sysconf(_SC_PAGESIZE);
  mf_input *in = malloc(sizeof(mf_input) * k);
  void **base = calloc(k, sizeof(void *));
  size_t *len = calloc(k, sizeof(size_t));
  int status = 0;
  if (!in || !base || !len) {
    status = -2;
    goto done;
  }
  for (size_t j = 0; j < k; j++) {
    size_t size = ITEM[files[j].dtype];
    size_t bytes = count * size;
    struct stat st;
    if (files[j].offset % size != 0 || fstat(files[j].fd, &st) != 0 ||
        (uint64_t)st.st_size < files[j].offset + bytes) {
      status = -1; /* the caller reads this chunk with positioned reads instead */
      goto done;
    }
    uint64_t at = files[j].offset & ~(uint64_t)(page - 1);
    size_t delta = (size_t)(files[j].offset - at);
    len[j] = bytes + delta;
    if (len[j] == 0) len[j] = 1;
    void *p = map_congruent(files[j].fd, at, len[j], (size_t)page);
    if (p == MAP_FAILED) {
      status = -1;
      goto done;
    }
    base[j] = p;
#ifdef MADV_SEQUENTIAL
    madvise(p, len[j], MADV_SEQUENTIAL);
#endif
    in[j].data = (const char *)p + delta;
    in[j].dtype = files[j].dtype;
  }
  pthread_once(&bus_once, install_bus_handler);
  sigjmp_buf here;
  if (sigsetjmp(here, 1) != 0) {
    /* A mapped page vanished (the file was truncated during the call): the caller reads the chunk again. */
    bus_return = NULL;
    status = -1;
    goto done;
  }
  bus_return = &here;
  status = run_kernel(in, k, count, job);
  bus_return = NULL;
done:
  for (size_t j = 0; base && j < k; j++) {
    if (base[j]) munmap(base[j], len[j]);
  }
  free(in);
  free(base);
  free(len);
  return status;
}

/*
 * Input bytes (all k together) read per step by with_read: the step stays in the core's L2 cache, where
 * the half kernel's two passes (exponent bounds, then sums) find it.
 */
#define READ_STEP_BYTES (256 * 1024)

/*
 * Reads the chunk of every input step by step into buffers (pread) and runs the job on each step; flagged
 * indices are shifted to the chunk's. -1 when a file ends early (the caller's positioned reads report it).
 *
 * Why the half kernel reads rather than maps: its first pass over mapped pages took the page faults and
 * TLB misses of every fresh mapping (and each munmap interrupts the job's other threads), about a tenth
 * more CPU for bfloat16 checkpoints than copying 256 KiB steps into a cache-resident buffer; the float
 * kernels, a single pass, measured the same either way and keep their mapping.
 */
static int with_read(const mf_file *files, size_t k, size_t count, const mapped_job *job) {
  size_t per = 0;
  for (size_t j = 0; j < k; j++) per += ITEM[files[j].dtype];
  size_t step = READ_STEP_BYTES / per < 1024 ? 1024 : READ_STEP_BYTES / per;
  if (step > count) step = count;
  mf_input *in = malloc(sizeof(mf_input) * k);
  char *buf = malloc(per * (step ? step : 1) + 64 * k);
  int status = 0;
  size_t total = 0;
  if (!in || !buf) {
    status = -2;
    goto done;
  }
  for (size_t s = 0; s < count && status == 0; s += step) {
    size_t m = count - s < step ? count - s : step;
    char *at = buf;
    for (size_t j = 0; j < k && status == 0; j++) {
      size_t bytes = m * ITEM[files[j].dtype];
      uint64_t from = files[j].offset + s * ITEM[files[j].dtype];
      for (size_t got = 0; got < bytes;) {
        ssize_t r = pread(files[j].fd, at + got, bytes - got, (off_t)(from + got));
        if (r <= 0) {
          status = -1;
          break;
        }
        got += (size_t)r;
      }
      in[j].data = at;
      in[j].dtype = files[j].dtype;
      at += (bytes + 63) & ~(size_t)63; /* each input's step on its own cache lines */
    }
    if (status != 0) break;
    size_t n = 0;
    size_t cap = job->cap > total ? job->cap - total : 0;
    int32_t *flags = job->flags ? job->flags + total : NULL;
    mapped_job part = {(char *)job->out + s * ITEM[job->out_dtype], job->out_dtype, flags, cap, &n, job->exact};
    status = run_kernel(in, k, m, &part);
    if (job->flags && (job->exact || job->out_dtype == MF_F32)) {
      for (size_t f = 0; f < n; f++) job->flags[total + f] += (int32_t)s;
    }
    total += n;
  }
  *job->nflag = total;
done:
  free(in);
  free(buf);
  return status;
}

int mf_mean_files(const mf_file *files, size_t k, void *out, int out_f32, size_t count, int32_t *flags,
                  size_t cap, size_t *nflag, int exact) {
  mapped_job job = {out, out_f32 ? MF_F32 : MF_F64, flags, cap, nflag, exact};
  return with_mapped(files, k, count, &job);
}

int mf_mean_files_half(const mf_file *files, size_t k, void *out, int out_dtype, size_t count) {
  size_t nflag = 0;
  mapped_job job = {out, out_dtype, NULL, 0, &nflag, 0};
  return with_read(files, k, count, &job);
}
#else
int mf_mean_files_half(const mf_file *files, size_t k, void *out, int out_dtype, size_t count) {
  (void)files, (void)k, (void)out, (void)out_dtype, (void)count;
  return -1;
}

int mf_mean_files(const mf_file *files, size_t k, void *out, int out_f32, size_t count, int32_t *flags,
                  size_t cap, size_t *nflag, int exact) {
  (void)files, (void)k, (void)out, (void)out_f32, (void)count, (void)flags, (void)cap, (void)nflag, (void)exact;
  return -1;
}
#endif
