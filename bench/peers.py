"""numpy side of the peers benchmark (driven by dist/bench/peers.js; not meant to be run by hand).

One process serves a whole job set: it reads one JSON request per line on stdin and answers one JSON line
on stdout. Inputs arrive as raw little-endian files written by the JavaScript side, so numpy fuses exactly
the bits every other tool fuses; each output of the last timed run is written back as a raw file for the
accuracy check.

Requests:
  {"op": "info"}  ->  {"python": "3.x.y", "numpy": "2.x.y"}
  {"op": "job", "dtype": "float32", "n": N, "files": [k paths], "out_dir": DIR,
   "budget": seconds, "min_reps": r, "max_reps": R}
      ->  {"results": {"np-stack": {"times": [s, ...], "out": PATH}, "np-add": {...}}}
Errors are answered as {"error": "message"} and the process keeps serving.
"""

import json
import os
import platform
import sys
import time

import numpy as np


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
    return {"results": results}


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            if req.get("op") == "info":
                reply = {"python": platform.python_version(), "numpy": np.__version__}
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
