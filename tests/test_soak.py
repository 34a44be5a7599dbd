"""The loop-overhead soak, reduced for CI (20k agent steps, 16×16 frames): the real training loop over
synthetic stand-ins. Checkpoint bytes do not grow with the replay's fill, memory grows by at most the replay
plus 2 GB, and every evaluation and checkpoint happens. Times are reported by the benchmark
(benchmarks/test_bench_soak.py), not asserted here."""
from synthetic import soak


def test_checkpoint_bytes_stay_flat_and_memory_bounded_over_a_20k_step_run(tmp_path):
    r = soak(tmp_path / "run", 20_000, image_size=16, checkpoint_every=2_000, eval_freq=5_000, episode_steps=250)
    periodic = [c for c in r["checkpoints"] if c["name"] == "checkpoint"]
    assert [c["step"] for c in periodic] == list(range(2_000, 20_001, 2_000))
    first, last = periodic[0]["bytes"], periodic[-1]["bytes"]
    assert last <= 1.2 * first and first <= 1.2 * last, [c["bytes"] for c in periodic]
    assert r["evaluations"] == 4
    # growth, not the process's peak: earlier tests in the same session may have left gigabytes resident
    assert r["peak_rss"] - r["rss_start"] <= r["replay_bytes"] + 2 * 2**30, (r["peak_rss"], r["rss_start"])
    assert r["windows"] and all(rate > 0 for _, rate in r["windows"])
