"""The paper's table formats, computed from per-seed values.

- **Comparison** (Tables 1, 6, 7, and 2, 8 for the robot tasks): a cell is mean ± std across seeds, each
  seed's value being the mean of its final evaluation's episodes; std is the population std (ddof 0, as
  ``smg-fast eval``); the best cell of a row is marked (paper: red; here **bold**), the second best too
  (paper: blue; here _italic_); Δ = the chosen method's mean minus the best other method's, with |Δ| as
  a percentage of that method's mean (the paper's "improvement of SMG over the second best"; when the
  chosen method is not the best, Δ is negative: Table 6, cartpole color-easy, 854 vs 856 → −2, 0%).
- **Average** (Table 7 "average", the "Average" rows of Tables 2 and 8): per task and method, the mean of
  its per-mode means over the evaluation modes, ± their population std across modes (not seeds): e.g.
  SMG cartpole-swingup 858, 854, 726, 839, 764 → 808 ± 53.
- **Ablation** (Tables 3 and 9): the full model and each variant, mean ± std, and for a variant its
  change from the full model, "−44 (6%)" (percent of the full model's mean); the last row averages the
  signed percentages over tasks ("Average −15%").
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

AVERAGE = "average"


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float
    n: int


def stat(values) -> Stat:
    values = [float(v) for v in values]
    if not values:
        raise ValueError("stat needs at least one value")
    m = sum(values) / len(values)
    return Stat(m, math.sqrt(sum((v - m) ** 2 for v in values) / len(values)), len(values))


def average_stat(stats: list[Stat]) -> Stat:
    """Mean of the means, ± the population std of the means (the paper's average over modes)."""
    s = stat([x.mean for x in stats])
    return Stat(s.mean, s.std, len(stats))


def ranks(row: dict) -> dict:
    """{column: 1} for the best mean of a row, {column: 2} for the second best; equal means share a rank."""
    means = sorted({s.mean for s in row.values()}, reverse=True)[:2]
    return {c: means.index(s.mean) + 1 for c, s in row.items() if s.mean in means}


def delta(row: dict, chosen) -> tuple[float, float | None] | None:
    """(chosen − best other, |that| in % of the best other), or None without a chosen or other column."""
    if chosen not in row or len(row) < 2:
        return None
    ref = max(s.mean for c, s in row.items() if c != chosen)
    d = row[chosen].mean - ref
    return d, (abs(d) / abs(ref) * 100 if ref != 0 else None)


def change(full: Stat, variant: Stat) -> tuple[float, float | None]:
    """(variant − full, signed % of the full model's mean)."""
    d = variant.mean - full.mean
    return d, (100 * d / abs(full.mean) if full.mean != 0 else None)


@dataclass
class Block:
    """One table: rows × columns of Stats. ``where[(row, col)]`` = (task, mode, column object) for CSV and
    paper lookups. ``kind`` is "compare" or "ablation" (then ``reference`` is the full model's column)."""

    key: str
    title: str
    corner: str
    rows: list[str]
    cols: list
    cells: dict = field(default_factory=dict)
    where: dict = field(default_factory=dict)
    kind: str = "compare"
    chosen: object = None
    reference: object = None
    note: str = ""
    spread: str = "seeds"  # what ± spans: "seeds", or "modes" (an average over evaluation modes)

    def row(self, r: str) -> dict:
        return {c: self.cells[(r, c)] for c in self.cols if (r, c) in self.cells}


def label(col) -> str:
    return getattr(col, "label", str(col))


def fmt(x: float, decimals: int) -> str:
    text = f"{x:.{decimals}f}"
    return "0" if text.strip("-0.") == "" and decimals == 0 else text


def fmt_stat(s: Stat, decimals: int) -> str:
    """``mean ± std``; the mean alone for one value (its std of 0 would say nothing: the legend or an
    ``(n=1)`` note says so)."""
    return fmt(s.mean, decimals) if s.n == 1 else f"{fmt(s.mean, decimals)} ± {fmt(s.std, decimals)}"


def fmt_delta(d: float, pct: float | None, decimals: int) -> str:
    sign = "+" if d >= 0 else "-"
    return f"{sign}{fmt(abs(d), decimals)} ({'–' if pct is None else f'{abs(pct):.0f}%'})"


def _common_n(block: Block) -> int | None:
    """The usual number of seeds behind a cell (cells with another number get an "(n=…)" note)."""
    counts = [s.n for (r, _), s in block.cells.items() if r != AVERAGE]
    return max(set(counts), key=counts.count) if counts and block.spread == "seeds" else None


def _legend(block: Block, common: int | None) -> str:
    if block.spread == "modes":
        return "mean over the evaluation modes ± std across them"
    text = (("one seed (n = 1): its mean, no spread" if common == 1 else f"mean ± std over {common} seeds")
            if common else "")
    if any(r == AVERAGE for r in block.rows):
        text += "; average row: mean over the modes ± std across them"
    return text


def markdown(block: Block, decimals: int = 0) -> str:
    return _markdown_ablation(block, decimals) if block.kind == "ablation" else _markdown_compare(block, decimals)


def _cell(s: Stat, decimals: int, common: int | None) -> str:
    text = fmt_stat(s, decimals)
    return text + (f" (n={s.n})" if common is not None and s.n != common else "")


def _markdown_compare(block: Block, decimals: int) -> str:
    common = _common_n(block)
    show_delta = block.chosen is not None and block.chosen in block.cols and len(block.cols) > 1
    head = [block.corner] + [label(c) for c in block.cols] + ([f"Δ {label(block.chosen)}"] if show_delta else [])
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for r in block.rows:
        row = block.row(r)
        marks = ranks(row) if len(row) > 1 else {}
        cells = []
        for c in block.cols:
            if c not in row:
                cells.append("–")
                continue
            text = _cell(row[c], decimals, common if r != AVERAGE else None)
            rank = marks.get(c)
            cells.append(f"**{text}**" if rank == 1 else f"_{text}_" if rank == 2 and len(row) > 2 else text)
        if show_delta:
            d = delta(row, block.chosen)
            cells.append(fmt_delta(*d, decimals) if d else "–")
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    legend = "**best**, _second best_"
    if show_delta:
        legend += f"; Δ = {label(block.chosen)} − the best other column (in % of it)"
    if _legend(block, common):
        legend += "; " + _legend(block, common)
    if block.note:
        legend += f"; {block.note}"
    return f"**{block.title}**\n\n" + "\n".join(lines) + f"\n\n{legend}\n"


def _markdown_ablation(block: Block, decimals: int) -> str:
    common = _common_n(block)
    ref = block.reference
    head = [block.corner] + [label(c) + (" (full)" if c == ref and "full" not in label(c) else "")
                             for c in block.cols]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    pcts: dict = {c: [] for c in block.cols if c != ref}
    for r in block.rows:
        row = block.row(r)
        cells = []
        for c in block.cols:
            if c not in row:
                cells.append("–")
                continue
            text = _cell(row[c], decimals, common if r != AVERAGE else None)
            if c != ref and ref in row:
                d, pct = change(row[ref], row[c])
                share = "–" if pct is None else f"{abs(pct):.0f}%"
                text += f" ({'+' if d >= 0 else '-'}{fmt(abs(d), decimals)}, {share})"
                if pct is not None:
                    pcts[c].append(pct)
            cells.append(text)
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    avg = ["" if c == ref else (f"{sum(pcts[c]) / len(pcts[c]):+.0f}%" if pcts[c] else "–") for c in block.cols]
    lines.append("| average change | " + " | ".join(avg) + " |")
    legend = f"change from {label(ref)} in brackets (in % of it); the last row averages the signed % over rows"
    if _legend(block, common):
        legend += "; " + _legend(block, common)
    if block.note:
        legend += f"; {block.note}"
    return f"**{block.title}**\n\n" + "\n".join(lines) + f"\n\n{legend}\n"


def average_changes(block: Block) -> dict:
    """{variant column: mean signed % change from the full model over the block's rows}."""
    out = {}
    for c in block.cols:
        if c == block.reference:
            continue
        pcts = []
        for r in block.rows:
            row = block.row(r)
            if c in row and block.reference in row:
                _, pct = change(row[block.reference], row[c])
                if pct is not None:
                    pcts.append(pct)
        if pcts:
            out[c] = sum(pcts) / len(pcts)
    return out


CSV_FIELDS = ["table", "row", "task", "mode", "column", "method", "variant", "preset", "seeds", "mean", "std", "rank",
              "delta", "delta_pct", "change", "change_pct", "paper_table", "paper_mean", "paper_std",
              "diff_vs_paper"]


def csv_rows(block: Block) -> list[dict]:
    out = []
    for r in block.rows:
        row = block.row(r)
        marks = ranks(row) if block.kind == "compare" and len(row) > 1 else {}
        d = delta(row, block.chosen) if block.kind == "compare" else None
        for c, s in row.items():
            task, mode, col = block.where.get((r, c), ("", "", c))
            rec = {"table": block.key, "row": r, "task": task, "mode": mode, "column": label(c),
                   "method": getattr(col, "method", label(c)), "variant": getattr(col, "variant", ""),
                   "preset": getattr(col, "preset", ""), "seeds": s.n, "mean": s.mean, "std": s.std,
                   "rank": marks.get(c, "")}
            if d and c == block.chosen:
                rec["delta"], rec["delta_pct"] = d[0], "" if d[1] is None else d[1]
            if block.kind == "ablation" and c != block.reference and block.reference in row:
                ch, pct = change(row[block.reference], s)
                rec["change"], rec["change_pct"] = ch, "" if pct is None else pct
            out.append(rec)
    return out
