"""The side-by-side benchmark: infocus and its Python peers in one run.

    bash bench/run.sh [--quick] [--big]      # what BENCHMARKS.md reports

runs `cargo bench --bench maps -- --out bench/out` (infocus's side: it
writes its inputs and maps as .npy and its times to bench/out/infocus.json),
then, on the same inputs in the same run:

1. checks both Python peers (bench/peers.py) against infocus's maps: peer
   (b) on every stack, peer (a) on the first slice (it is the paper's own
   per-window loop and takes seconds per slice); a peer that disagrees
   stops the run;
2. times them (min and median of several runs; peer (a) on one slice,
   extrapolated to the stack by the number of slices, which is exact for a
   per-slice loop up to noise: said so in the table);
3. prints the table with the ratios, and writes bench/out/results.json for
   bench/plot.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def timed(reps: int, f) -> tuple[float, float]:
    """(min, median) wall-clock ms of `reps` calls."""
    t = []
    for _ in range(max(reps, 1)):
        t0 = time.perf_counter()
        f()
        t.append((time.perf_counter() - t0) * 1e3)
    return min(t), statistics.median(t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "bench" / "out"))
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--big", action="store_true",
                    help="also the 200 x 2048 x 2048 streaming run (1.6 GB TIFF)")
    ap.add_argument("--skip-cargo", action="store_true",
                    help="reuse bench/out/infocus.json from an earlier run")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    if not a.skip_cargo:
        cmd = ["cargo", "bench", "--bench", "maps"]
        if os.environ.get("INFOCUS_BENCH_FEATURES"):
            cmd += ["--features", os.environ["INFOCUS_BENCH_FEATURES"]]
        cmd += ["--", "--out", str(out)]
        cmd += ["--quick"] if a.quick else []
        cmd += ["--big"] if a.big else []
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)
    rust = json.loads((out / "infocus.json").read_text())
    rows = rust["rows"]
    reps = 3 if a.quick else 5

    def find(group, case_part, threads=None):
        for r in rows:
            if r["group"] == group and case_part in r["case"] and (
                    threads is None or r.get("threads") == threads):
                return r
        raise KeyError((group, case_part, threads))

    peer_rows = []
    print("\nchecking and timing the Python peers (numpy %s, one thread)" % np.__version__)
    # --- the paper std map: peers (a) and (b) against infocus ---------------
    for n, t in [(256, "u8"), (256, "u16"), (1024, "u8"), (1024, "u16")]:
        stack = np.load(out / f"input_{n}_{t}.npy")
        ref = np.load(out / f"map_{n}_{t}.npy")
        b = peers.peer_b(stack)
        ok, err = peers.agree(b, ref)
        print(f"  peer b, 20x{n}x{n} {t}: max error {err:.1e} of the map's maximum")
        if not ok:
            sys.exit(f"peer (b) disagrees with infocus on 20x{n}x{n} {t}: {err:.3e}")
        a0 = peers.peer_a_slice(stack[0])
        ok, err = peers.agree(a0[None], ref[:1])
        print(f"  peer a, slice 0 of 20x{n}x{n} {t}: max error {err:.1e}")
        if not ok:
            sys.exit(f"peer (a) disagrees with infocus on 20x{n}x{n} {t}: {err:.3e}")
        tb = timed(reps if n == 256 else max(2, reps - 2), lambda: peers.peer_b(stack))
        ta1 = timed(2 if n == 256 else 1, lambda: peers.peer_a_slice(stack[0]))
        z = stack.shape[0]
        peer_rows.append({
            "case": f"20x{n}x{n} {t}", "pixels": stack.size,
            "peer_b_ms": tb, "peer_a_ms": (ta1[0] * z, ta1[1] * z),
            "peer_a_slice_ms": ta1, "peer_a_extrapolated": True,
        })

    # --- sweeps for peer (b) --------------------------------------------------
    sweep = {"window": [], "size": []}
    s = np.load(out / "input_sweep_window.npy")
    for win in [16, 32, 64, 128, 256, 512]:
        tb = timed(1 if a.quick else 2, lambda: peers.peer_b(s, window=win))
        sweep["window"].append({"window": win, "peer_b_ms": tb})
    for n in [256, 512, 1024, 2048]:
        p = out / f"input_sweep_{n}.npy"
        if p.exists():
            s = np.load(p)
            tb = timed(1 if a.quick else 2, lambda: peers.peer_b(s))
            sweep["size"].append({"side": n, "pixels": s.size, "peer_b_ms": tb})

    results = {
        "machine": {
            "cpu": rust["cpu"], "threads": rust["threads"],
            "python": platform.python_version(), "numpy": np.__version__,
        },
        "infocus": rows, "peers": peer_rows, "peer_sweeps": sweep,
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))

    # --- the table ----------------------------------------------------------
    th = rust["threads"]
    lines = []
    lines.append(f"Machine: {rust['cpu']}, {th} threads. Times in ms: min (median).")
    lines.append("")
    lines.append("| paper std map | infocus, 1 thread | infocus, %d threads | peer (b) numpy | peer (a) literal* | (b) / infocus | (a) / infocus | infocus / memory floor (fresh output; warm output) |" % th)
    lines.append("|---|---|---|---|---|---|---|---|")
    fmt = lambda m: f"{m[0]:.1f} ({m[1]:.1f})"
    for pr in peer_rows:
        one = find("std_map", pr["case"], 1)
        two = find("std_map", pr["case"], th)
        floor = find("floor", pr["case"])
        warm = find("floor_warm", pr["case"])
        best = min(one["min_ms"], two["min_ms"])
        lines.append(
            f"| {pr['case']} | {one['min_ms']:.1f} ({one['median_ms']:.1f}) | "
            f"{two['min_ms']:.1f} ({two['median_ms']:.1f}) | {fmt(pr['peer_b_ms'])} | "
            f"{pr['peer_a_ms'][0]:.0f} | {pr['peer_b_ms'][0] / best:.0f}x | "
            f"{pr['peer_a_ms'][0] / best:.0f}x | {best / floor['min_ms']:.2f}x of {floor['min_ms']:.1f} "
            f"({best / warm['min_ms']:.1f}x of {warm['min_ms']:.1f} warm) |")
    lines.append("")
    lines.append("*peer (a): one slice timed, times the number of slices (20).")
    lines.append("")
    lines.append("| measure, 20x1024x1024 u16 | infocus ms | / std |")
    lines.append("|---|---|---|")
    for r in rows:
        if r["group"] == "measure":
            lines.append(f"| {r['measure']} | {r['min_ms']:.1f} ({r['median_ms']:.1f}) | {r['std_ratio']:.2f} |")
    lines.append("")
    lines.append("| window (20x1024x1024 u16, strides 8..36) | infocus ms | peer (b) ms | (b) / infocus |")
    lines.append("|---|---|---|---|")
    for sw in sweep["window"]:
        r = find("window", f"window {sw['window']},")
        lines.append(f"| {sw['window']} | {r['min_ms']:.1f} | {sw['peer_b_ms'][0]:.0f} | {sw['peer_b_ms'][0] / r['min_ms']:.0f}x |")
    lines.append("")
    lines.append("| image (2 slices, paper scheme) | infocus ms | infocus ns/pixel | peer (b) ms | (b) / infocus |")
    lines.append("|---|---|---|---|---|")
    for r in rows:
        if r["group"] == "size":
            pb = next((x for x in sweep["size"] if x["side"] == r["side"]), None)
            pbs = f"{pb['peer_b_ms'][0]:.0f} | {pb['peer_b_ms'][0] / r['min_ms']:.0f}x" if pb else "- | -"
            lines.append(f"| {r['side']}x{r['side']} | {r['min_ms']:.1f} | {r['min_ms'] * 1e6 / r['pixels']:.1f} | {pbs} |")
    lines.append("")
    lines.append("| segment / CLI | min ms | median ms |")
    lines.append("|---|---|---|")
    for r in rows:
        if r["group"] in ("segment", "cli", "stream"):
            extra = f", peak RSS {r['peak_kb'] / 1024:.0f} MB" if "peak_kb" in r else ""
            lines.append(f"| {r['case']}{extra} | {r['min_ms']:.1f} | {r['median_ms']:.1f} |")
    for r in rows:
        if r["group"] == "memory":
            lines.append("")
            lines.append(
                f"In-memory {r['case']}: the map call raised the process's RSS by "
                f"{(r['peak_kb'] - r['before_kb']) / 1024:.0f} MB (peak {r['peak_kb'] / 1024:.0f} MB, "
                f"{r['before_kb'] / 1024:.0f} MB before it, input included); bound "
                f"2 x (input as f32 + output) = {r['bound_kb'] / 1024:.0f} MB.")
    table = "\n".join(lines)
    (out / "table.md").write_text(table + "\n")
    print()
    print(table)
    print(f"\nwrote {out / 'results.json'} and {out / 'table.md'}; plots: python bench/plot.py")


if __name__ == "__main__":
    main()
