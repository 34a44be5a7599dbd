"""The loop's own cost over a paper-length run: the real training loop driven for 500k agent steps over
synthetic stand-ins (frames from a generator at 84×84, no rendering, updates that do no network work; replay
capacity 500k ≈ 10.6 GB of frames in memory), checkpoints every 50k steps, evaluation bookkeeping every 10k.

    SMG_FAST_SOAK_STEPS=500000 pytest benchmarks/test_bench_soak.py --benchmark-only -s

writes ``soak.md`` (table) and ``soak.png`` (loop steps/s, checkpoint time and bytes against the buffer's
fill, resident memory over time) to ``$SMG_FAST_BENCH_OUT`` (default ``benchmarks/out``). Targets:
checkpoint time and bytes within 1.2× from the first to the last checkpoint, peak memory ≤ replay bytes +
2 GB, loop overhead ≤ 1 ms per agent step. Without ``--benchmark-only`` (CI's one pass) it runs 20k steps.
"""
import os
from pathlib import Path

import pytest

from synthetic import soak


def _report(r: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    ck = [c for c in r["checkpoints"] if c["name"] == "checkpoint"]
    lines = [f"{r['steps']:,} agent steps, {r['image_size']}×{r['image_size']} frames, replay "
             f"{r['replay_bytes'] / 2**30:.2f} GiB: {r['seconds']:.0f} s in all, synthetic env "
             f"{r['env_seconds']:.0f} s, {r['evaluations']} evaluations {r['eval_seconds']:.1f} s; loop overhead "
             f"{r['overhead_ms_per_step']:.3f} ms per agent step; peak RSS {r['peak_rss'] / 2**30:.2f} GiB", "",
             "| checkpoint at step | seconds | MB written |", "|---|---|---|"]
    lines += [f"| {c['step']:,} | {c['seconds']:.2f} | {c['bytes'] / 1e6:.0f} |" for c in ck]
    (out / "soak.md").write_text("\n".join(lines) + "\n")
    fig, ax = plt.subplots(1, 3, figsize=(14, 3.6))
    ax[0].plot([s for s, _ in r["windows"]], [v for _, v in r["windows"]])
    ax[0].set(xlabel="agent step", ylabel="loop steps/s", title="loop speed over the run")
    ax[1].plot([c["step"] for c in ck], [c["seconds"] for c in ck], "o-", label="seconds")
    ax2 = ax[1].twinx()
    ax2.plot([c["step"] for c in ck], [c["bytes"] / 1e6 for c in ck], "s--", color="C1", label="MB written")
    ax[1].set(xlabel="buffer fill (agent steps)", ylabel="seconds", title="each checkpoint")
    ax2.set_ylabel("MB written")
    ax[2].plot([t for t, _ in r["memory"]], [m / 2**30 for _, m in r["memory"]])
    ax[2].axhline((r["replay_bytes"] + 2 * 2**30) / 2**30, color="k", ls=":", label="replay + 2 GB")
    ax[2].set(xlabel="seconds", ylabel="resident GiB", title="memory")
    ax[2].legend()
    fig.tight_layout()
    fig.savefig(out / "soak.png", dpi=110)
    plt.close(fig)


@pytest.mark.benchmark(group="training loop overhead (synthetic env, no network work)")
def test_soak(benchmark, tmp_path):
    steps = int(os.environ.get("SMG_FAST_SOAK_STEPS", "500000" if not benchmark.disabled else "20000"))
    size = 84 if not benchmark.disabled else 16
    every = max(steps // 10, 1)
    result = {}

    def once():
        result.update(soak(tmp_path / "run", steps, image_size=size, checkpoint_every=every))

    benchmark.pedantic(once, rounds=1, iterations=1)
    out = Path(os.environ.get("SMG_FAST_BENCH_OUT", Path(__file__).parent / "out"))
    _report(result, out)
    ck = [c for c in result["checkpoints"] if c["name"] == "checkpoint"]
    benchmark.extra_info.update(overhead_ms_per_step=result["overhead_ms_per_step"],
                                checkpoint_seconds=[c["seconds"] for c in ck],
                                checkpoint_bytes=[c["bytes"] for c in ck], peak_rss=result["peak_rss"])
