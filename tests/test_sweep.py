"""`smg-fast sweep`: grid files, run commands, status from run directories, and (slow, on a local Ray) a
tiny real grid that is killed with SIGKILL and resumed, and a grid with a failing run."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smg_fast.experiments import sweep
from smg_fast.experiments.grid import GridError, load_grid, parse_grid

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, timeout=600, **kw):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "smg_fast.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, **kw)


def test_grid_expands_every_combination_with_its_options():
    g = parse_grid({
        "methods": ["sac", "smg"], "tasks": ["walker-walk", "robot-reach"], "seeds": 2, "presets": ["paper", "quick"],
        "steps": 1000, "eval_modes": ["train", "video_hard"], "args": ["--no-pictures"],
        "set": {"eval_episodes": 5, "fused_ops": False, "eval_modes_extra": [1, 2]},
        "method_options": {"smg": {"set": {"attribution_prob": 0.5}}},
        "task_options": {"robot-reach": {"args": ["--precision", "bf16"]}},
        "ablations": {"full": {}, "nofore": {"no": ["fore"], "set": {"mask_ratio": 0.08}}},
        "resources": {"cpus": 2, "gpus": 0.5, "max_concurrent": 3}, "max_retries": 1})
    assert len(g.runs) == 2 * 2 * 2 * 2 * 2
    assert (g.cpus, g.gpus, g.max_concurrent, g.max_retries, g.run_device) == (2.0, 0.5, 3, 1, "cuda")
    assert g.full_ablation() == "full"
    ids = [r.run_id for r in g.runs]
    assert len(set(ids)) == len(ids)
    assert "walker-walk/smg+nofore@quick/seed1" in ids and "robot-reach/sac+full/seed0" in ids
    spec = next(r for r in g.runs if r.run_id == "robot-reach/smg+nofore/seed1")
    args = spec.train_args(Path("/s/run"), "cuda")
    assert args[:10] == ["--task", "robot-reach", "--algo", "smg", "--seed", "1", "--preset", "paper", "--steps", "1000"]
    text = " ".join(args)
    assert "--eval-modes train,video_hard --no-fore" in text
    assert "--set eval_episodes=5 --set fused_ops=false --set eval_modes_extra=1,2 --set attribution_prob=0.5 " \
           "--set mask_ratio=0.08" in text
    assert text.endswith("--no-pictures --precision bf16 --device cuda --run-dir /s/run --no-progress")
    assert spec.resume_args(Path("/s/run"), "cuda") == ["--resume", "/s/run", "--no-progress", "--no-pictures",
                                                        "--device", "cuda"]
    assert spec.expected_config()["fore_weight"] == 0.0 and spec.expected_config()["mask_ratio"] == "0.08"
    sac = next(r for r in g.runs if r.run_id == "walker-walk/sac+full/seed0")
    assert "attribution_prob" not in " ".join(sac.train_args(Path("r")))


@pytest.mark.parametrize("raw, message", [
    ({"tasks": ["a"], "seeds": 1}, "'methods' is required"),
    ({"methods": ["sac"], "tasks": ["a"], "seeds": [0, 0]}, "distinct"),
    ({"methods": ["sac"], "tasks": ["a"], "seeds": 1, "colour": 1}, "unknown key(s) colour"),
    ({"methods": ["s a c"], "tasks": ["a"], "seeds": 1}, "not plain names"),
    ({"methods": ["sac"], "tasks": ["a"], "seeds": 1, "ablations": {"x": {"no": ["reconstruction"]}}}, "unknown loss"),
    ({"methods": ["sac"], "tasks": ["a"], "seeds": 1, "resources": {"gpus": 1.5}}, "fraction"),
    ({"methods": ["sac"], "tasks": ["a"], "seeds": 1, "method_options": {"smg": {}}}, "not in the grid's methods"),
    ({"methods": ["sac"], "tasks": ["a"], "seeds": 1, "set": {"x": {"y": 1}}}, "[set].x"),
    ({"name": "../../x", "methods": ["sac"], "tasks": ["a"], "seeds": 1}, "name '../../x' must be a plain name"),
    ({"name": "a/b", "methods": ["sac"], "tasks": ["a"], "seeds": 1}, "no '/'"),
])
def test_grid_errors_name_the_problem(raw, message):
    with pytest.raises(GridError, match=None) as e:
        parse_grid(raw)
    assert message in str(e.value)


def test_grid_files_of_the_paper(tmp_path):
    t1, t2, t3 = (load_grid(ROOT / "grids" / f"table{i}.toml") for i in (1, 2, 3))
    assert len(t1.runs) == 7 * 5 * 4 and len(t2.runs) == 7 * 2 * 4 and len(t3.runs) == 5 * 6 * 4
    assert {r.method for r in t1.runs} == {"sac", "drq", "soda", "svea", "srm", "sgqn", "smg"}
    assert {r.task for r in t2.runs} == {"robot-reach", "robot-peg-in-box"}
    assert sorted(ab for ab in t3.ablations) == ["full", "no_action", "no_back", "no_fore", "no_mask",
                                                 "no_q_consistency"]
    assert {r.no for r in t3.runs} == {(), ("fore",), ("action",), ("back",), ("mask",), ("q-consistency",)}
    assert all(r.eval_modes == "all" and ("eval_episodes", "5") in r.sets for g in (t1, t2, t3) for r in g.runs)
    # YAML works the same (PyYAML: the [sweep] extra, which .ci/run installs).
    try:
        import yaml
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI must install PyYAML for YAML grid files: pip install 'smg-fast[sweep]'")
        pytest.skip("PyYAML is not installed, so YAML grid files are not tested (pip install 'smg-fast[sweep]')")
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump({"methods": ["sac"], "tasks": ["walker-walk"], "seeds": [3]}))
    assert [r.run_id for r in load_grid(path).runs] == ["walker-walk/sac/seed3"]


def _fake_run(path: Path, step: int, total: int, finished: bool, checkpoint: bool = True, **cfg):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"task": "walker-walk", "algo": "sac", "preset": "paper",
                                                  "train_steps": total, **cfg}))
    (path / "train.csv").write_text("step,episode,episode_return\n" + "".join(
        f"{s},{i},1\n" for i, s in enumerate(range(250, step + 1, 250))))
    with open(path / "eval.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "mode", "mean_return", "std_return", "episodes", "returns"])
        w.writerow([step, "train", 512.25, 0, 1, "512.25"])
        w.writerow([step, "video_hard", 100.5, 0, 1, "100.50"])
    if checkpoint:
        (path / "checkpoint.json").write_bytes(b"x")
    if finished:
        (path / "final_eval.csv").write_text("mode,seed,mean_return,std_return,episodes\ntrain,seed 0,512.25,0,1\n")


def test_status_dry_run_and_config_conflicts(tmp_path):
    g = parse_grid({"name": "s", "methods": ["sac"], "tasks": ["walker-walk"], "seeds": 3, "steps": 1000,
                    "set": {"batch_size": 8}})
    d = tmp_path / "sw"
    s0, s1, s2 = g.runs
    _fake_run(sweep.run_path(d, s0), 1000, 1000, finished=True, batch_size=8, seed=0)
    _fake_run(sweep.run_path(d, s1), 500, 1000, finished=False, batch_size=8, seed=1)
    rows = sweep.status_rows(g, d)
    assert [(r["state"], r["step"], r["total"]) for r in rows] == [("finished", 1000, 1000), ("resumable", 500, 1000),
                                                                    ("pending", None, 1000)]
    text = sweep.format_status(rows)
    assert "walker-walk/sac/seed1  resumable  500 / 1000" in text and "@500: train 512.2, video_hard 100.5" in text
    assert text.endswith("3 runs: 1 finished, 1 resumable, 1 pending")
    dry = sweep.dry_run(g, d).splitlines()
    assert dry[0] == "walker-walk/sac/seed0: finished (skipped)"
    assert dry[1].endswith(f"--resume {sweep.run_path(d, s1)} --no-progress --device cpu")
    assert "--task walker-walk --algo sac --seed 2" in dry[2]
    # A run made with other settings than the grid's is not resumed silently.
    assert sweep.config_mismatch(s1, sweep.run_path(d, s1)) == []
    other = parse_grid({"methods": ["sac"], "tasks": ["walker-walk"], "seeds": 3, "set": {"batch_size": 16}}).runs[1]
    assert sweep.config_mismatch(other, sweep.run_path(d, s1)) == ["batch_size: run has 8, grid says '16'"]
    # The command line: --status needs no Ray.
    (d / "grid.json").write_text(json.dumps({"name": "s", "methods": ["sac"], "tasks": ["walker-walk"], "seeds": 3,
                                             "steps": 1000, "set": {"batch_size": 8}}))
    out = cli("sweep", str(d), "--status", timeout=120)
    assert out.returncode == 0 and "1 finished, 1 resumable, 1 pending" in out.stdout, out.stderr


@pytest.mark.parametrize("grid, needle", [
    ('methods = ["smgg"]\ntasks = ["walker-walk"]\nseeds = 2\n',
     "run walker-walk/smgg/seed0: argument --algo: invalid choice: 'smgg'"),
    ('methods = ["sac"]\ntasks = ["walker-wlak"]\nseeds = 1\n',
     "run walker-wlak/sac/seed0: --task walker-wlak: not a task"),
    ('methods = ["sac"]\ntasks = ["walker-walk"]\nseeds = 1\npreset = "quik"\n', "invalid choice: 'quik'"),
    ('methods = ["sac"]\ntasks = ["walker-walk"]\nseeds = 1\n[set]\nbatch_szie = 8\n',
     "--set batch_szie=8: unknown setting 'batch_szie'"),
    ('methods = ["sac"]\ntasks = ["walker-walk"]\nseeds = 1\n[set]\nupdates_per_step = 0.7\n',
     "--set updates_per_step=0.7: must be a number in (0, 64] that is whole"),
    ('methods = ["sac"]\ntasks = ["walker-walk"]\nseeds = 1\neval_modes = "train,train"\n', "train is given twice"),
    ('methods = ["sac"]\ntasks = ["walker-walk"]\nseeds = 1\nargs = ["--seed", "3"]\n', "--seed"),
], ids=["method", "task", "preset", "setting", "fraction", "mode twice", "flag twice"])
def test_a_wrong_run_command_fails_the_sweep_before_anything_starts(tmp_path, grid, needle, capsys):
    """--dry-run and a real sweep check every run's train command as `smg-fast train` would, before any run
    starts (and before Ray is needed): one line naming the run, exit status 2, no sweep directory."""
    from run_helpers import fails

    path = tmp_path / "g.toml"
    path.write_text(grid)
    for extra in (["--dry-run"], []):
        fails(2, "smg-fast sweep: error: run ", needle, argv=["sweep", str(path), "--dir", str(tmp_path / "d"), *extra],
              capsys=capsys)
    assert not (tmp_path / "d").exists()


def test_without_ray_the_command_says_how_to_install_it(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text('methods = ["sac"]\ntasks = ["walker-walk"]\nseeds = 1\n')
    code = ("import sys; sys.modules['ray'] = None; from smg_fast.cli import main; "
            f"main(['sweep', {str(path)!r}, '--dir', {str(tmp_path / 'd')!r}])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "pip install 'smg-fast[sweep]'" in out.stderr


# ------------------------------------------------------------------------------------------------------
# Real sweeps on a local Ray (slow: about 2 minutes on the 2-core reference machine)

def _need_ray():
    try:
        import ray  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI must install Ray for the sweep tests: pip install 'ray>=2.9'")
        pytest.skip("Ray is not installed (pip install 'smg-fast[sweep]')")


# A few hundred environment steps per run: 96 agent steps of cartpole (action repeat 8), random actions
# until step 88, then 2 + 8 updates; evaluations at 48 and 96, checkpoints every 24 steps.
TINY_GRID = """
name = "tiny"
methods = {methods}
tasks = {tasks}
seeds = {seeds}
preset = "quick"
steps = 96
eval_modes = "train"
args = ["--no-pictures"]
max_retries = 1

[set]
batch_size = 4
eval_episodes = 1
episode_length = 64
init_steps = 88
burst_updates = 2
updates_per_step = 1
eval_freq = 48
eval_envs = 1
checkpoint_every = 24
replay_capacity = 128

[resources]
cpus = 1
"""


def _write_grid(path: Path, methods, tasks, seeds, extra=""):
    path.write_text(TINY_GRID.format(methods=json.dumps(methods), tasks=json.dumps(tasks), seeds=json.dumps(seeds))
                    + extra)
    return path


def _steps(run: Path) -> list[int]:
    return [int(r["step"]) for r in csv.DictReader(open(run / "train.csv"))]


def _start(path: Path, d: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "smg_fast.cli", "sweep", str(path), "--dir", str(d), "--poll", "1",
                             "--progress-every", "2", "--no-progress"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_for_checkpoint(runs: list[Path], driver: subprocess.Popen) -> None:
    deadline = time.time() + 300
    while not any((r / "checkpoint.json").exists() for r in runs) and time.time() < deadline and driver.poll() is None:
        time.sleep(0.2)
    assert any((r / "checkpoint.json").exists() for r in runs), "no run reached its first checkpoint"


@pytest.mark.slow
def test_tiny_grid_killed_with_sigkill_stopped_with_sigterm_resumes_and_reports(tmp_path):
    _need_ray()
    path = _write_grid(tmp_path / "tiny.toml", ["sac", "drq"], ["cartpole-swingup"], [0, 1])
    d = tmp_path / "sweep"
    g = load_grid(path)
    runs = [sweep.run_path(d, s) for s in g.runs]

    # 1. SIGKILL: the driver dies at once, with no chance to stop anything itself. Its training processes
    # get SIGTERM (parent-death signal), checkpoint and exit, and their locks free.
    driver = _start(path, d)
    _wait_for_checkpoint(runs, driver)
    driver.send_signal(signal.SIGKILL)
    first = driver.communicate(timeout=60)[0]
    assert "ray: " in first, first
    deadline = time.time() + 180
    while any(sweep.lock_held(sweep.lock_path(d, s)) for s in g.runs) and time.time() < deadline:
        time.sleep(0.5)
    assert not any(sweep.lock_held(sweep.lock_path(d, s)) for s in g.runs), "a training process outlived the sweep"
    interrupted = [s for s, r in zip(g.runs, runs) if (r / "checkpoint.json").exists() and not (r / "final_eval.csv").exists()]
    assert interrupted, "no run was interrupted"
    for s in interrupted:
        assert "SIGTERM at step" in sweep.log_path(d, s).read_text()
    status = cli("sweep", str(path), "--dir", str(d), "--status", timeout=120)
    assert status.returncode == 0 and "resumable" in status.stdout, status.stdout + status.stderr

    # 2. SIGTERM (as Ctrl-C): the driver asks its running runs to stop, each checkpoints, exit 128 + 15.
    driver = _start(path, d)
    drq = [r for s, r in zip(g.runs, runs) if s.method == "drq"]
    _wait_for_checkpoint(drq, driver)
    driver.send_signal(signal.SIGTERM)
    second = driver.communicate(timeout=300)[0]
    assert driver.returncode == 128 + signal.SIGTERM, second
    assert "stopping" in second and "stopped cartpole-swingup/drq@quick/seed" in second, second
    stopped = [s for s in g.runs if s.method == "drq" and (sweep.run_path(d, s) / "checkpoint.json").exists()
               and not (sweep.run_path(d, s) / "final_eval.csv").exists()]
    assert stopped and all("SIGTERM at step" in sweep.log_path(d, s).read_text() for s in stopped)
    assert not any(sweep.lock_held(sweep.lock_path(d, s)) for s in g.runs)
    interrupted += stopped
    finished_before = {r: (r / "final_eval.csv").stat().st_mtime for r in runs if (r / "final_eval.csv").exists()}

    # 3. The same command again: finished runs are skipped, the others resume and finish.
    again = cli("sweep", str(path), "--dir", str(d), "--poll", "1", "--progress-every", "0", "--no-progress")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"{len(finished_before)} finished, {4 - len(finished_before)} to run" in again.stdout
    for s in interrupted:  # each resumed from its checkpoint, in the second or the third invocation
        assert f"done    {s.run_id} (resume from step" in second + again.stdout
    assert "sweep tiny: 4/4 runs finished" in again.stdout
    for r in runs:
        assert (r / "final_eval.csv").exists()
        steps = _steps(r)  # one row per episode, none repeated (a SIGTERM mid-episode shifts the later ones)
        assert steps == sorted(set(steps)) and 88 <= steps[-1] <= 96, (r, steps)
        assert list(csv.DictReader(open(r / "eval.csv")))[-1]["step"] == "96"
    for r, mtime in finished_before.items():
        assert (r / "final_eval.csv").stat().st_mtime == mtime  # finished runs were not touched
    status = cli("sweep", str(d), "--status", timeout=120)
    assert status.stdout.rstrip().endswith("4 runs: 4 finished"), status.stdout

    rep = cli("report", str(d), "--bootstrap-reps", "1000", timeout=300)
    assert rep.returncode == 0, rep.stderr[-3000:]
    rows = list(csv.DictReader(open(d / "report" / "results.csv")))
    assert {r["column"] for r in rows} == {"sac@quick", "drq@quick"}
    for r in rows:
        seeds = [float(next(csv.DictReader(open(sweep.run_path(d, s) / "final_eval.csv")))["mean_return"])
                 for s in g.runs if s.label == r["column"]]
        assert float(r["mean"]) == pytest.approx(sum(seeds) / 2) and int(r["seeds"]) == 2
    assert (d / "report" / "curves" / "cartpole-swingup.png").stat().st_size > 10_000


@pytest.mark.slow
def test_a_failing_run_is_retried_reported_and_the_others_finish(tmp_path):
    """A run that fails at run time (exit 1: here a missing overlay folder) is retried, then given up; the others
    finish. (A wrong command, exit 2, no longer reaches the driver: every run's command is checked before any
    starts, test_a_wrong_run_command_fails_the_sweep_before_anything_starts.)"""
    _need_ray()
    path = _write_grid(tmp_path / "bad.toml", ["sac"], ["cartpole-swingup", "cartpole-balance"], [0],
                       '\n[task_options.cartpole-balance]\nset = { overlay_source = "folder:/nonexistent" }\n')
    d = tmp_path / "sweep"
    out = cli("sweep", str(path), "--dir", str(d), "--poll", "1", "--progress-every", "0", "--no-progress")
    assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-3000:]
    bad = "cartpole-balance/sac@quick/seed0"
    assert f"FAILED  {bad} (attempt 1/2, exit 1); retrying" in out.stdout
    assert f"FAILED  {bad} (attempt 2/2, exit 1); giving up" in out.stdout
    assert "overlay folder /nonexistent does not exist" in out.stdout  # the end of the run's log
    assert "done    cartpole-swingup/sac@quick/seed0 (fresh start" in out.stdout
    assert "1 failed" in out.stdout and bad in out.stdout.splitlines()[-1]
    assert (d / "runs" / "cartpole-swingup" / "sac@quick" / "seed0" / "final_eval.csv").exists()
    runs = load_grid(path).runs
    assert [sweep.log_path(d, r).read_text().count("=== attempt") for r in runs] == [1, 2]
    status = cli("sweep", str(d), "--status", timeout=120)
    assert "failed (exit 1)" in status.stdout and "1 finished" in status.stdout


def test_grid_module_lists_the_train_commands_loss_flags():
    """The ablation names (a grid's no = [...], from the methods' declarations) are the train command's
    --no-<loss> flags."""
    from smg_fast.agent import ablation_losses

    out = cli("train", "--help", timeout=120)
    assert out.returncode == 0
    for loss in ablation_losses():
        assert f"--no-{loss}" in out.stdout


def test_concurrency_follows_the_per_run_request_and_the_cluster():
    class FakeRay:
        def __init__(self, cpus, gpus):
            self.res = {"CPU": cpus, "GPU": gpus}

        def cluster_resources(self):
            return self.res

    g = parse_grid({"methods": ["smg"], "tasks": ["walker-walk"], "seeds": 1, "resources": {"cpus": 2, "gpus": 0.25}})
    assert sweep.runs_that_fit(FakeRay(64, 8), g) == 32      # 8 GPUs / 0.25
    assert sweep.runs_that_fit(FakeRay(16, 8), g) == 8       # 16 CPUs / 2
    g.gpus = 0.0
    assert sweep.runs_that_fit(FakeRay(7, 0), g) == 3
    g.gpus = 0.5
    with pytest.raises(sweep.SweepError, match="gpus = 0"):
        sweep.runs_that_fit(FakeRay(16, 0), g)
    g.cpus = 32
    with pytest.raises(sweep.SweepError, match="32 CPUs"):
        sweep.runs_that_fit(FakeRay(16, 8), g)
