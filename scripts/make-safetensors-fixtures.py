"""Writes test/fixtures/safetensors/: checkpoints saved by huggingface's `safetensors` (the reference
implementation) with bfloat16 from `ml_dtypes`, and manifest.json with the expected mean (plain and
weighted) of every float tensor as bit patterns: the exact mean with fractions, then the value of the
tensor's dtype nearest it (ties to even), found by search. The tests read these files; they never need
Python.

Run: python3 -m venv .venv && .venv/bin/pip install safetensors ml_dtypes numpy &&
     .venv/bin/python scripts/make-safetensors-fixtures.py
"""
import json
import os
from fractions import Fraction

import ml_dtypes
import numpy as np
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "safetensors")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(13)


def nearest(q: Fraction, dtype) -> int:
    """Bits of the `dtype` value nearest q, ties to the even bit pattern (exact, by search)."""
    if np.dtype(dtype).itemsize == 2:
        values = np.arange(65536, dtype=np.uint16).view(dtype).astype(np.float64)
        finite = [(Fraction(float(v)), b) for b, v in enumerate(values) if np.isfinite(v) and b != 0x8000]
        finite.sort()
        keys = [f for f, _ in finite]
        import bisect

        i = bisect.bisect_left(keys, q)
        cands = finite[max(0, i - 1) : i + 1]
    else:
        c = np.float32(float(q))
        vs = [np.nextafter(c, np.float32(-np.inf)), c, np.nextafter(c, np.float32(np.inf))]
        cands = [(Fraction(float(v)), int(np.array(v).view(np.uint32))) for v in vs]
    return min(cands, key=lambda fb: (abs(fb[0] - q), fb[1] & 1))[1]


models = []
for seed in range(3):
    m = {
        "w.bf16": (rng.standard_normal((8, 5)) * 4).astype(ml_dtypes.bfloat16),
        "w.f16": (rng.standard_normal((7,)) * 100).astype(np.float16),
        "w.f32": rng.standard_normal((3, 3)).astype(np.float32),
        "step": np.array([42], dtype=np.int64),
        "mask": np.array([True, False, True]),
    }
    models.append(m)
    save_file(m, os.path.join(OUT, f"ckpt{seed}.safetensors"), metadata={"format": "np", "seed": str(seed)})

weights = [1, 2, 5]
manifest = {"weights": weights, "tensors": {}}
for name in ("w.bf16", "w.f16", "w.f32"):
    dtype = models[0][name].dtype
    flat = [m[name].reshape(-1) for m in models]
    for label, ws in (("mean", [1, 1, 1]), ("weighted", weights)):
        out = []
        for i in range(flat[0].size):
            q = sum(Fraction(w) * Fraction(float(x[i])) for w, x in zip(ws, flat)) / sum(ws)
            out.append(nearest(q, dtype))
        manifest["tensors"].setdefault(name, {})[label] = out
with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1)
print("wrote", OUT)
