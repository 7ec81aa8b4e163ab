"""Tables of benchmark results: the side-by-side pivot, the goals, the scaling
table, and the scaling chart (matplotlib)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchlib.workloads import WORKLOADS

__all__ = ["GOALS", "Cell", "Goal", "fit_line", "goals_table", "pivot_table", "scaling_chart",
           "scaling_table"]

OURS_ASYNCIO = "gorums_h2/asyncio"
OURS_TRIO = "gorums_h2/trio"


@dataclass(frozen=True)
class Cell:
    """One implementation on one workload: median ops/s and CPU s per 10k ops."""

    ops_per_s: float
    cpu_per_10k: float

    def throughput(self, workload: str) -> float:
        """ops/s, or MB/s one way for the E workloads."""
        w = WORKLOADS.get(workload)
        if w is not None and w.name.startswith("E"):
            return self.ops_per_s * w.payload / 1e6
        return self.ops_per_s


Results = Mapping[str, Mapping[str, Cell]]  # workload -> label -> cell


def _unit(workload: str) -> str:
    return "MB/s" if workload.startswith("E") else "ops/s"


def pivot_table(results: Results, labels: Sequence[str]) -> str:
    """Rows: workloads; columns: implementations (throughput, CPU s/10k ops)."""
    head = ["workload", "unit"] + [f"{label}" for label in labels]
    rows = [head]
    for workload, cells in results.items():
        row = [workload, _unit(workload)]
        for label in labels:
            cell = cells.get(label)
            row.append("-" if cell is None else
                       f"{cell.throughput(workload):.1f} ({cell.cpu_per_10k:.2f}s)")
        rows.append(row)
    return _format(rows) + "\n(throughput, with client CPU seconds per 10k operations)"


@dataclass(frozen=True)
class Goal:
    """``ours`` on ``workload`` against the best of ``peers`` present in the
    results (ops/s ratio), or, with no peers, an absolute MB/s figure."""

    workload: str
    ours: str
    peers: tuple[str, ...]  # empty: an absolute goal in MB/s
    target: float

    def best_peer(self, results: Results) -> str | None:
        cells = results.get(self.workload, {})
        present = [p for p in self.peers if p in cells and cells[p].ops_per_s > 0]
        return max(present, key=lambda p: cells[p].ops_per_s, default=None)

    def ratio(self, results: Results) -> float | None:
        cells = results.get(self.workload, {})
        mine = cells.get(self.ours)
        if mine is None:
            return None
        if not self.peers:
            return mine.throughput(self.workload)
        best = self.best_peer(results)
        if best is None:
            return None
        return mine.ops_per_s / cells[best].ops_per_s


# every peer in both forms, on every loop it runs on (labels absent from a
# run are skipped: the goal is against the best one measured)
ASYNCIO_PEERS = tuple(f"{impl}{form}/{loop}" for impl in ("grpclib", "grpcio")
                      for form in ("", "-stream") for loop in ("asyncio", "uvloop"))
PURERPC_STREAM = ("purerpc-stream/trio",)

GOALS: tuple[Goal, ...] = (
    Goal("A", OURS_ASYNCIO, ASYNCIO_PEERS, 1.5),
    Goal("B", OURS_ASYNCIO, ASYNCIO_PEERS, 1.5),
    Goal("C", OURS_ASYNCIO, ASYNCIO_PEERS, 2.0),
    Goal("E64k", OURS_ASYNCIO, ASYNCIO_PEERS, 1.5),
    Goal("C", OURS_TRIO, (OURS_ASYNCIO,), 0.8),
    *(Goal(w, OURS_TRIO, PURERPC_STREAM, 2.0) for w in ("A", "B", "C", "D", "E4k", "E64k")),
)


def goals_table(results: Results, goals: Sequence[Goal] = GOALS) -> str:
    rows = [["goal", "measured", "target", "status"]]
    for g in goals:
        value = g.ratio(results)
        if not g.peers:
            what = f"{g.workload} {g.ours} one way"
            measured = "-" if value is None else f"{value:.1f} MB/s"
            target = f">= {g.target:g} MB/s"
        else:
            best = g.best_peer(results)
            against = best if len(g.peers) == 1 or best is None else f"best peer ({best})"
            what = f"{g.workload} {g.ours} vs {against}"
            measured = "-" if value is None else f"{value:.2f}x"
            target = f">= {g.target:g}x"
        status = "n/a" if value is None else ("MET" if value >= g.target else "NOT MET")
        rows.append([what, measured, target, status])
    return _format(rows)


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float]:
    """Least squares ``y = a + b x``: (a, b, r squared)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    b = sxy / sxx if sxx else 0.0
    a = my - b * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys, strict=True))
    r2 = 1 - ss_res / ss_tot if ss_tot else 1.0
    return a, b, r2


def _sizes(results: Results, prefix: str) -> list[str]:
    names = [w for w in results if w.startswith(prefix) and w[len(prefix):][:1].isdigit()]
    return sorted(names, key=lambda w: WORKLOADS[w].nodes if prefix == "F" else
                  WORKLOADS[w].payload)


def scaling_table(results: Results, all_labels: Sequence[str]) -> str:
    """Per config size: latency per call (sequential calls: 1/throughput) and
    client CPU per call, with a linear fit of CPU per call against nodes."""
    out = []
    for prefix, key in (("F", "nodes"), ("Fp", "payload B")):
        names = _sizes(results, prefix)
        if not names:
            continue
        labels = [lb for lb in all_labels if any(lb in results[w] for w in names)]
        rows = [[key] + [f"{label} ms / CPU ms" for label in labels]]
        for w in names:
            x = WORKLOADS[w].nodes if prefix == "F" else WORKLOADS[w].payload
            row = [str(x)]
            for label in labels:
                cell = results[w].get(label)
                row.append("-" if cell is None else
                           f"{1000 / cell.ops_per_s:.3f} / {cell.cpu_per_10k / 10:.3f}")
            rows.append(row)
        out.append(_format(rows))
        if prefix == "F":
            fits = []
            for label in labels:
                pts = [(WORKLOADS[w].nodes, results[w][label].cpu_per_10k / 10)
                       for w in names if label in results[w]]
                if len(pts) >= 3:
                    a, b, r2 = fit_line([p[0] for p in pts], [p[1] for p in pts])
                    fits.append(f"{label}: CPU/call ~ {a:.3f} + {b:.3f} ms x nodes "
                                f"(r^2 {r2:.3f}{', ~linear' if r2 >= 0.95 else ''})")
            out.append("\n".join(fits))
    return "\n\n".join(out)


def scaling_chart(results: Results, labels: Sequence[str], path: Path, title: str) -> bool:
    """Write the scaling curves (CPU and latency per call against nodes and
    payload) to ``path``; False when matplotlib is missing or nothing to draw."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    nodes, payloads = _sizes(results, "F"), _sizes(results, "Fp")
    if not nodes and not payloads:
        return False
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for col, (names, attr, xlabel, logx) in enumerate((
            (nodes, "nodes", "configuration size (nodes)", False),
            (payloads, "payload", "payload (bytes)", True))):
        for label in labels:
            pts = [(getattr(WORKLOADS[w], attr), results[w][label]) for w in names
                   if label in results[w]]
            if not pts:
                continue
            xs = [p[0] for p in pts]
            axes[0][col].plot(xs, [c.cpu_per_10k / 10 for _, c in pts], marker="o",
                              label=label)
            axes[1][col].plot(xs, [1000 / c.ops_per_s for _, c in pts], marker="o",
                              label=label)
        for row, ylabel in ((0, "client CPU per call (ms)"), (1, "latency per call (ms)")):
            ax = axes[row][col]
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(True, alpha=0.3)
            if logx:
                ax.set_xscale("log", base=2)
                ax.set_yscale("log")
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def _format(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for j, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
