"""Side-by-side speed of the empirical denoiser and the smoothed score, measured in one run:
the compiled core (cpp), the Numba backend, the NumPy reference, a blocked NumPy + BLAS
implementation (GEMM per data block + online log-sum-exp) and PyTorch on the CPU when installed.
Each as median time, % of the GEMM roofline measured in this same run (4 m N d flops for the
empirical denoiser) and kernel-weight throughput (m N weights per second, m n_kernel N for the
smoothed score). Prints a markdown table and writes a PNG plot.

    python benchmarks/compare.py [--repeats 5] [--quick] [--png compare.png]
"""

from __future__ import annotations

import argparse

import numpy as np
from _timing import median_time

import ledkde_fast as lk

DIMS = (3, 16, 64, 784, 3072)


def blocked_numpy_denoiser(x, data, t, block=4096):
    """The strongest plain-NumPy baseline: BLAS GEMM per data block, online log-sum-exp merge."""
    m = x.shape[0]
    mx = np.full(m, -np.inf)
    sm = np.zeros(m)
    acc = np.zeros((m, x.shape[1]), dtype=x.dtype)
    inv_t = x.dtype.type(1.0 / t)
    for start in range(0, data.shape[0], block):
        blk = data[start:start + block]
        logits = (x @ blk.T - 0.5 * np.einsum("nd,nd->n", blk, blk)) * inv_t
        new_max = np.maximum(mx, logits.max(axis=1))
        scale = np.exp(mx - new_max)
        w = np.exp(logits - new_max[:, None].astype(x.dtype))
        sm = sm * scale + w.sum(axis=1, dtype=np.float64)
        acc = acc * scale[:, None].astype(x.dtype) + w @ blk
        mx = new_max
    return acc / sm[:, None]


def torch_denoiser(x, data, t):
    """PyTorch on the CPU: softmax attention in blocks of queries."""
    import torch

    xt, dt = torch.from_numpy(x), torch.from_numpy(data)
    half = 0.5 * (dt * dt).sum(dim=1)
    out = []
    for start in range(0, xt.shape[0], 256):
        logits = (xt[start:start + 256] @ dt.T - half) / t
        out.append(torch.softmax(logits, dim=1) @ dt)
    return torch.cat(out).numpy()


def gemm_roofline(dtype, repeats):
    """GFLOP/s of a large BLAS GEMM on this machine, now."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2000, 784)).astype(dtype)
    b = rng.standard_normal((784, 4000)).astype(dtype)
    return 2 * 2000 * 784 * 4000 / median_time(lambda: a @ b, repeats) / 1e9


def empirical_rows(sizes, dtypes, repeats, roof, have):
    rows = []
    for m, n, d in sizes:
        for dtype in dtypes:
            rng = np.random.default_rng(0)
            data = rng.standard_normal((n, d)).astype(dtype)
            x = rng.standard_normal((m, d)).astype(dtype)
            t = float(d)
            runs = {"numpy_blocked": lambda: blocked_numpy_denoiser(x, data, t)}
            for backend in ("cpp", "numba", "reference"):
                if backend in have and (backend != "reference" or m * n * d <= 2e9):
                    runs[backend] = lambda b=backend: lk.empirical_denoiser(x, data, t, backend=b)
            if "torch" in have:
                runs["torch"] = lambda: torch_denoiser(x, data, t)
            for name, fn in runs.items():
                if name == "numba" and m * n * d > 4e9:
                    continue  # minutes at this size
                sec = median_time(fn, repeats)
                gf = 4.0 * m * n * d / sec / 1e9
                rows.append(dict(op="empirical", m=m, n=n, d=d, dtype=np.dtype(dtype).name, impl=name, sec=sec,
                                 roof=100 * gf / roof[dtype], weights=m * n / sec))
    return rows


def smoothed_rows(dtypes, repeats, have, m=256, n=1000, d=784, nk=4096):
    rows = []
    for dtype in dtypes:
        rng = np.random.default_rng(0)
        data = rng.standard_normal((n, d)).astype(dtype)
        x = (data[:m] + 0.5 * rng.standard_normal((m, d))).astype(dtype)
        for backend in ("cpp", "numba"):
            if backend not in have:
                continue
            k = nk if backend == "cpp" else 256  # Numba at a smaller draw count, reported per weight
            sec = median_time(lambda: lk.smoothed_score(x, data, 0.05 * d, 0.5, n_kernel=k, seed=1, backend=backend),
                              repeats)
            rows.append(dict(op="smoothed", m=m, n=n, d=d, dtype=np.dtype(dtype).name, impl=backend, sec=sec,
                             roof=float("nan"), weights=m * k * n / sec))
    return rows


def print_table(rows, roof):
    print(f"GEMM roofline measured in this run: float32 {roof[np.float32]:.0f} GFLOP/s, "
          f"float64 {roof[np.float64]:.0f} GFLOP/s\n")
    print("| operation | m | N | d | dtype | implementation | median s | % of GEMM roofline | weights/s "
          "| speed-up vs NumPy blocked |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = {(r["m"], r["n"], r["d"], r["dtype"]): r["sec"] for r in rows if r["impl"] == "numpy_blocked"}
    for r in rows:
        b = base.get((r["m"], r["n"], r["d"], r["dtype"]))
        speed = f"{b / r['sec']:.2f}" if b and r["op"] == "empirical" else "-"
        roof_s = "-" if np.isnan(r["roof"]) else f"{r['roof']:.0f}%"
        print(f"| {r['op']} | {r['m']} | {r['n']} | {r['d']} | {r['dtype']} | {r['impl']} | {r['sec']:.4f} | "
              f"{roof_s} | {r['weights']:.3g} | {speed} |")


def plot(rows, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot)")
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, dtype in zip(axes, ("float32", "float64")):
        emp = [r for r in rows if r["op"] == "empirical" and r["dtype"] == dtype]
        for impl in sorted({r["impl"] for r in emp}):
            pts = sorted((r["d"], r["roof"]) for r in emp if r["impl"] == impl)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=impl)
        ax.set(xscale="log", xlabel="d", title=f"empirical denoiser, {dtype}")
        ax.axhline(100, color="gray", lw=0.8, ls="--")
    axes[0].set_ylabel("% of the GEMM roofline (4 m N d flops)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--png", default="compare.png")
    args = parser.parse_args()
    have = set(lk.available_backends())
    try:
        import torch  # noqa: F401

        have.add("torch")
    except ImportError:
        pass
    dtypes = (np.float32, np.float64)
    roof = {dt: gemm_roofline(dt, args.repeats) for dt in dtypes}
    if args.quick:
        sizes = [(100, 2000, d) for d in (3, 64)]
    else:
        sizes = [(1000, 100_000 if d <= 64 else 20_000, d) for d in DIMS]
    rows = empirical_rows(sizes, dtypes, args.repeats, roof, have)
    rows += smoothed_rows(dtypes, args.repeats, have, **({"m": 16, "nk": 64} if args.quick else {}))
    print_table(rows, roof)
    plot(rows, args.png)


if __name__ == "__main__":
    main()
