"""Python side of the peers benchmark: numpy and Dask (driven by dist/bench/peers.js; not run by hand).

One process serves a whole job set: it reads one JSON request per line on stdin and answers one JSON line
on stdout. Inputs arrive as raw little-endian files written by the JavaScript side, so numpy and Dask fuse
exactly the bits every other tool fuses; each output of the last timed run is written back as a raw file
for the accuracy check. Dask runs only when it can be imported (the "dask" of "info" is then its version).

Requests:
  {"op": "info"}  ->  {"python": "3.x.y", "numpy": "2.x.y", "dask": "2026.x.y" or null, "dask_error": ...}
  {"op": "job", "dtype": "float32", "n": N, "files": [k paths], "out_dir": DIR,
   "budget": seconds, "min_reps": r, "max_reps": R,
   "dask": {"shape": [rows, cols], "chunk_rows": [rows per chunk, ...], "threads": T} (optional)}
      ->  {"results": {"np-stack": {"times": [s, ...], "out": PATH}, "np-add": {...}, "dask": {...}}}
Errors are answered as {"error": "message"} and the process keeps serving.
"""

import json
import os
import platform
import sys
import time

import numpy as np

try:
    import dask
    import dask.array as da

    DASK_ERROR = None
except Exception as exc:  # any import failure means "no Dask", reported to the JS side
    dask = da = None
    DASK_ERROR = f"{type(exc).__name__}: {exc}"


def mean_stack(xs):
    """How people usually write it: stack into a (k, ...) array, then mean over the stacking axis."""
    return np.mean(np.stack(xs), 0)


def mean_inplace(xs):
    """The in-place idiom: accumulate into one output buffer with np.add(out=...), then divide once."""
    out = xs[0].copy()
    for a in xs[1:]:
        np.add(out, a, out=out)
    np.divide(out, len(xs), out=out)
    return out


TOOLS = {"np-stack": mean_stack, "np-add": mean_inplace}


def mean_dask(maps, chunk_rows):
    """What a Dask user writes: wrap each memory-mapped input in row chunks, stack, mean, compute.

    Runs on the threaded scheduler set by the caller (dask.config.set(scheduler="threads", num_workers=T)).
    """
    xs = [da.from_array(m, chunks=(chunk_rows, -1)) for m in maps]
    return da.stack(xs).mean(axis=0).compute()


def measure(fn, xs, budget, min_reps, max_reps):
    """One warm-up run, then as many timed runs as fit the budget (at least min_reps, at most max_reps)."""
    t0 = time.perf_counter()
    out = fn(xs)
    warm = time.perf_counter() - t0
    reps = max(min_reps, min(max_reps, int(budget // max(warm, 1e-9))))
    times = []
    for _ in range(reps):
        del out
        t0 = time.perf_counter()
        out = fn(xs)
        times.append(time.perf_counter() - t0)
    return times, out


def run_job(req):
    dtype = np.dtype(req["dtype"])
    n = int(req["n"])
    xs = []
    for path in req["files"]:
        a = np.fromfile(path, dtype=dtype, count=n)
        if a.size != n:
            raise ValueError(f"{path}: expected {n} {dtype} values, got {a.size}")
        xs.append(a)
    results = {}
    for name, fn in TOOLS.items():
        times, out = measure(fn, xs, float(req["budget"]), int(req["min_reps"]), int(req["max_reps"]))
        if out.dtype != dtype:
            raise ValueError(f"{name} returned {out.dtype}, expected {dtype}")
        path = os.path.join(req["out_dir"], f"{name}.out.raw")
        out.tofile(path)
        del out
        results[name] = {"times": times, "out": path}
    del xs
    spec = req.get("dask")
    if spec is not None and da is not None:
        shape = tuple(int(x) for x in spec["shape"])
        chunk_rows = tuple(int(x) for x in spec["chunk_rows"])
        # Mapped once per job, outside the timing (as numpy's np.fromfile is); the warm-up run faults the pages in.
        maps = [np.memmap(path, dtype=dtype, mode="r", shape=shape) for path in req["files"]]
        with dask.config.set(scheduler="threads", num_workers=int(spec["threads"])):
            times, out = measure(
                lambda ms: mean_dask(ms, chunk_rows),
                maps,
                float(req["budget"]),
                int(req["min_reps"]),
                int(req["max_reps"]),
            )
        if out.dtype != dtype:
            raise ValueError(f"dask returned {out.dtype}, expected {dtype}")
        path = os.path.join(req["out_dir"], "dask.out.raw")
        out.tofile(path)
        del out, maps
        results["dask"] = {"times": times, "out": path}
    return {"results": results}


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            if req.get("op") == "info":
                reply = {
                    "python": platform.python_version(),
                    "numpy": np.__version__,
                    "dask": None if dask is None else dask.__version__,
                    "dask_error": DASK_ERROR,
                }
            elif req.get("op") == "job":
                reply = run_job(req)
            else:
                reply = {"error": f"unknown op {req.get('op')!r}"}
        except Exception as exc:  # answer and keep serving: the JS side records the failure per job
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
