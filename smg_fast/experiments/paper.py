"""The paper's published results (Tables 1, 2, 3, 6, 7, 8 and 9), shipped as ``paper_results.json``:
as tables in the paper's layout, and as a lookup for ``smg-fast report --paper``.

    >>> paper.lookup()[("walker-walk", "video_hard", "smg", "")]
    ('1', 814.0, 51.0)
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from smg_fast.experiments.tables import AVERAGE, Block, Stat

SEEDS = 4  # "we calculate the mean and standard deviation with four random seeds" (Table 1 caption)


@lru_cache(maxsize=1)
def load() -> dict:
    return json.loads(resources.files("smg_fast.experiments").joinpath("paper_results.json").read_text(encoding="utf-8"))


def _cells(row: dict, kind: str) -> dict[str, list]:
    """A row's [mean, std] per column, without the paper's Δ / change annotations."""
    return {k: v for k, v in row.items() if k not in ("delta", "change")}


@lru_cache(maxsize=1)
def lookup() -> dict[tuple[str, str, str, str], tuple[str, float, float]]:
    """``{(task, mode, method, variant): (table, mean, std)}``; variant "" is the method as published,
    "no-<loss>" an ablation of SMG (Tables 3, 9). Comparison tables come first, so SMG's full model in
    video_hard is Table 1's (Table 3 repeats the same numbers)."""
    data = load()
    out: dict = {}
    for kind in ("compare", "ablation"):
        for tid, table in data["tables"].items():
            if table["kind"] != kind:
                continue
            for block, rows in table["blocks"].items():
                for row, cells in rows.items():
                    task, mode = (row, block) if table["rows"] == "task" else (block, row)
                    for col, (mean, std) in _cells(cells, kind).items():
                        if kind == "compare":
                            key = (task, mode, col, "")
                        else:
                            key = (task, mode, table["method"], "" if col == "full" else col)
                        out.setdefault(key, (tid, float(mean), float(std)))
    return out


def blocks(tables: list[str] | None = None) -> list[Block]:
    """The paper's tables as report blocks (columns named as in the paper), for rendering side by side
    with the same code that renders a user's results."""
    data = load()
    names = {**data["method_names"], **data["variants"]}
    out = []
    for tid, table in data["tables"].items():
        if tables and tid not in tables:
            continue
        for block, rows in table["blocks"].items():
            kind = table["kind"]
            first = next(iter(rows.values()))
            cols = [names.get(c, c) for c in _cells(first, kind)]
            corner = "task" if table["rows"] == "task" else "setting"
            b = Block(key=f"paper table {tid} {block}", title=f"Paper, Table {tid}: {table['caption']} ({block})",
                      corner=corner, rows=list(rows), cols=cols, kind=kind,
                      chosen=names["smg"] if kind == "compare" else None,
                      reference=names["full"] if kind == "ablation" else None,
                      note="values as published", spread="modes" if block == AVERAGE else "seeds")
            for row, cells in rows.items():
                task, mode = (row, block) if table["rows"] == "task" else (block, row)
                for col, (mean, std) in _cells(cells, kind).items():
                    c = names.get(col, col)
                    b.cells[(row, c)] = Stat(float(mean), float(std), SEEDS)
                    b.where[(row, c)] = (task, mode, col)
            out.append(b)
    return out


def compare(block: Block, decimals: int = 0) -> tuple[str, list[dict]]:
    """The user's cells beside the paper's: Markdown and CSV additions (keyed like tables.csv_rows)."""
    index = lookup()
    lines, extra = [], []
    for r in block.rows:
        for c in block.cols:
            if (r, c) not in block.cells:
                continue
            task, mode, col = block.where[(r, c)]
            method, variant = getattr(col, "method", str(col)), getattr(col, "variant", "")
            hit = index.get((task, mode, method, variant))
            if hit is None:
                continue
            tid, pm, ps = hit
            s = block.cells[(r, c)]
            label = getattr(col, "label", str(col))
            lines.append(f"| {r} | {label} | {s.mean:.{decimals}f} ± {s.std:.{decimals}f} | "
                         f"{pm:.0f} ± {ps:.0f} (Table {tid}) | {s.mean - pm:+.{decimals}f} |")
            extra.append({"row": r, "column": label, "paper_table": tid, "paper_mean": pm, "paper_std": ps,
                          "diff_vs_paper": s.mean - pm})
    if not lines:
        return "", []
    head = f"| {block.corner} | column | ours | paper | ours − paper |\n|---|---|---:|---:|---:|\n"
    return f"_{block.title}: beside the paper_\n\n" + head + "\n".join(lines) + "\n", extra
