"""PNG plots of a load test, from Locust's CSV history and the raw socket samples."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no screen: render to files
import matplotlib.pyplot as plt

PERCENTILES = ("50%", "95%", "99%")


def _history(path: Path) -> dict[str, list[dict[str, str]]]:
    rows: dict[str, list[dict[str, str]]] = defaultdict(list)
    with path.open() as f:
        for row in csv.DictReader(f):
            rows[row["Name"]].append(row)
    return rows


def _num(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return float("nan")


def plot_all(report_dir: Path) -> list[Path]:
    """Write throughput.png, latency.png and push_latency.png; returns their paths."""
    written: list[Path] = []
    history_file = report_dir / "locust_stats_history.csv"
    if history_file.exists():
        history = _history(history_file)
        start = min(int(r["Timestamp"]) for rows in history.values() for r in rows)
        fig, ax = plt.subplots(figsize=(9, 4))
        for name in ("like", "unlike", "like → feed.item"):
            rows = history.get(name, [])
            if rows:
                ax.plot([int(r["Timestamp"]) - start for r in rows],
                        [_num(r["Requests/s"]) for r in rows], label=name)  # fmt: skip
        ax.set(xlabel="seconds", ylabel="per second", title="Throughput over time")
        ax.legend()
        written.append(_save(fig, report_dir / "throughput.png"))

        fig, ax = plt.subplots(figsize=(9, 4))
        for name in ("like", "like → feed.item"):
            for pct in PERCENTILES:
                rows = history.get(name, [])
                if rows:
                    ax.plot([int(r["Timestamp"]) - start for r in rows],
                            [_num(r[pct]) for r in rows], label=f"{name} p{pct[:-1]}")  # fmt: skip
        ax.set(xlabel="seconds", ylabel="ms", title="Latency percentiles over time", yscale="log")
        ax.legend(fontsize="small")
        written.append(_save(fig, report_dir / "latency.png"))

    samples_file = report_dir / "push_latencies.json"
    samples = json.loads(samples_file.read_text()) if samples_file.exists() else []
    if samples:
        fig, ax = plt.subplots(figsize=(9, 4))
        ax.hist(samples, bins=60, color="tab:red")
        ordered = sorted(samples)
        for q in (50, 99):
            v = ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]
            ax.axvline(v, color="black", linestyle="--")
            ax.text(v, ax.get_ylim()[1] * 0.9, f" p{q} {v:.0f} ms")
        ax.set(xlabel="ms from the like to the follower's socket", ylabel="feed items",
               title=f"Like → feed.item latency ({len(samples)} items)")  # fmt: skip
        written.append(_save(fig, report_dir / "push_latency.png"))
    return written


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
