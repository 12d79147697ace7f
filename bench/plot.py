"""Plots of bench/out/results.json (written by bench/run.py) for BENCHMARKS.md:

* docs/bench/time_vs_pixels.png: time against image size (paper scheme,
  2 slices of 256^2 .. 4096^2), infocus and peer (b), log-log, with the
  linear trend through infocus's largest size;
* docs/bench/time_vs_window.png: time against window side (16 .. 512,
  20 x 1024^2), infocus and peer (b);
* docs/bench/implementations.png: the paper std map on 20 x 1024^2 u16 for
  every implementation (log scale), with the memory floor.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "out" / "results.json"
    if src.is_dir():
        src = src / "results.json"
    res = json.loads(src.read_text())
    dest = ROOT / "docs" / "bench"
    dest.mkdir(parents=True, exist_ok=True)
    rows = res["infocus"]
    machine = f"{res['machine']['cpu']}, {res['machine']['threads']} threads"

    # --- time vs pixels -------------------------------------------------------
    size = sorted((r for r in rows if r["group"] == "size"), key=lambda r: r["pixels"])
    fig, ax = plt.subplots(figsize=(6, 4.2))
    px = [r["pixels"] for r in size]
    ax.loglog(px, [r["min_ms"] for r in size], "o-", label="infocus")
    pb = res["peer_sweeps"]["size"]
    if pb:
        ax.loglog([p["pixels"] for p in pb], [p["peer_b_ms"][0] for p in pb], "s-",
                  label="peer (b) numpy")
    last = size[-1]
    ax.loglog(px, [last["min_ms"] * p / last["pixels"] for p in px], "k:",
              label="linear in pixels")
    ax.set_xlabel("pixels (2 slices of n x n, n = 256 .. 4096)")
    ax.set_ylabel("time, ms (min of runs)")
    ax.set_title("paper std map: time vs image size")
    ax.legend()
    ax.text(0.01, -0.2, machine, transform=ax.transAxes, fontsize=7)
    fig.tight_layout()
    fig.savefig(dest / "time_vs_pixels.png", dpi=110)
    plt.close(fig)

    # --- time vs window -------------------------------------------------------
    win = sorted((r for r in rows if r["group"] == "window"), key=lambda r: r["window"])
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.semilogx([r["window"] for r in win], [r["min_ms"] for r in win], "o-", base=2,
                label="infocus")
    pw = res["peer_sweeps"]["window"]
    if pw:
        ax.semilogx([p["window"] for p in pw], [p["peer_b_ms"][0] for p in pw], "s-", base=2,
                    label="peer (b) numpy")
    ax.set_yscale("log")
    ax.set_xlabel("window side, pixels (strides 8 .. 36)")
    ax.set_ylabel("time, ms (min of runs)")
    ax.set_title("std map, 20 x 1024 x 1024 u16: time vs window")
    ax.legend()
    ax.text(0.01, -0.2, machine, transform=ax.transAxes, fontsize=7)
    fig.tight_layout()
    fig.savefig(dest / "time_vs_window.png", dpi=110)
    plt.close(fig)

    # --- implementations ------------------------------------------------------
    case = "20x1024x1024 u16"
    pick = lambda g, th=None: next(r for r in rows if r["group"] == g and r["case"] == case
                                   and (th is None or r.get("threads") == th))
    peer = next(p for p in res["peers"] if p["case"] == case)
    th = res["machine"]["threads"]
    bars = [
        ("memory floor\n(read + write once)", pick("floor")["min_ms"]),
        (f"infocus\n{th} threads", pick("std_map", th)["min_ms"]),
        ("infocus\n1 thread", pick("std_map", 1)["min_ms"]),
        ("peer (b)\nnumpy", peer["peer_b_ms"][0]),
        ("peer (a) literal\n(1 slice x 20)", peer["peer_a_ms"][0]),
    ]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.bar([b[0] for b in bars], [b[1] for b in bars],
           color=["grey", "C0", "C0", "C1", "C3"])
    ax.set_yscale("log")
    for i, (_, v) in enumerate(bars):
        ax.text(i, v, f"{v:.0f} ms" if v >= 10 else f"{v:.1f} ms", ha="center", va="bottom",
                fontsize=8)
    ax.set_ylabel("time, ms (log)")
    ax.set_title(f"paper std map, {case}")
    ax.tick_params(axis="x", labelsize=8)
    ax.text(0.01, -0.25, machine, transform=ax.transAxes, fontsize=7)
    fig.tight_layout()
    fig.savefig(dest / "implementations.png", dpi=110)
    plt.close(fig)
    print(f"wrote {dest}/time_vs_pixels.png, time_vs_window.png, implementations.png")


if __name__ == "__main__":
    main()
