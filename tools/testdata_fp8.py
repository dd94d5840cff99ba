"""FP8 conversion references from ml_dtypes (testdata/fp8/).

Files (all little-endian .npy):
- decode_e4m3.npy, decode_e5m2.npy: float32[256], the value of every code (ml_dtypes
  float8_e4m3fn / float8_e5m2 `.astype(np.float32)`).
- inputs.npy: float32[N]: the boundary values of both formats (zero, min subnormal, min
  normal, max, every code and every halfway point between neighbouring codes, one f32 ulp
  either side of them, overflow thresholds, NaN, +-inf), then 2^20 random values: half
  uniformly random bit patterns, half log-uniform magnitudes over each format's range.
- rne_e4m3.npy, rne_e5m2.npy: uint8[N], ml_dtypes' round-to-nearest-even `astype`
  (non-saturating: overflow gives NaN for E4M3, inf for E5M2).
- sat_e4m3.npy, sat_e5m2.npy: uint8[N], the saturating conversion: the input clipped to
  +-max first (NaN stays NaN), then ml_dtypes' `astype`.
"""

from __future__ import annotations

from pathlib import Path

import ml_dtypes
import numpy as np

SEED_FP8 = 8
RANDOM_VALUES = 1 << 20
FORMATS = {"e4m3": ml_dtypes.float8_e4m3fn, "e5m2": ml_dtypes.float8_e5m2}


def _boundaries(dt) -> np.ndarray:
    """Every finite code, the halfway points between neighbours, and 1 ulp around each."""
    codes = np.arange(256, dtype=np.uint8).view(dt).astype(np.float32)
    finite = np.unique(np.abs(codes[np.isfinite(codes)]))
    top = finite[-1]
    step = finite[-1] - finite[-2]
    # The overflow threshold is halfway to the next (missing) code above the maximum.
    ext = np.append(finite, [top + step, top + 2 * step, top * 4])
    half = (ext[:-1] + ext[1:]) / 2
    pts = np.concatenate([ext, half]).astype(np.float32)
    around = np.concatenate([np.nextafter(pts, np.float32(np.inf)), np.nextafter(pts, np.float32(0))])
    v = np.concatenate([pts, around]).astype(np.float32)
    return np.concatenate([v, -v])


def make_fp8(out: Path) -> dict:
    d = out / "fp8"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED_FP8)
    specials = np.array([0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 1e-45, 3.4e38], dtype=np.float32)
    parts = [specials] + [_boundaries(dt) for dt in FORMATS.values()]
    raw = rng.integers(0, 2**32, RANDOM_VALUES // 2, dtype=np.uint64).astype(np.uint32).view(np.float32)
    # Log-uniform magnitudes from below E5M2's smallest subnormal to above its maximum
    # (which covers E4M3's range too), random signs.
    mags = np.exp2(rng.uniform(-20.0, 17.0, RANDOM_VALUES // 2)).astype(np.float32)
    signs = np.where(rng.random(RANDOM_VALUES // 2) < 0.5, -1.0, 1.0).astype(np.float32)
    x = np.concatenate(parts + [raw, mags * signs]).astype(np.float32)
    np.save(d / "inputs.npy", x)
    with np.errstate(invalid="ignore", over="ignore"):
        for name, dt in FORMATS.items():
            codes = np.arange(256, dtype=np.uint8).view(dt).astype(np.float32)
            np.save(d / f"decode_{name}.npy", codes)
            np.save(d / f"rne_{name}.npy", x.astype(dt).view(np.uint8))
            mx = np.float32(ml_dtypes.finfo(dt).max)
            np.save(d / f"sat_{name}.npy", np.clip(x, -mx, mx).astype(dt).view(np.uint8))
    return {"fp8_values": int(x.size), "fp8_ml_dtypes": ml_dtypes.__version__}
