"""What a run's returns are compared with: a uniform random policy on the same task, and the paper's published
number for the same task, mode and method.

    >>> refs = run_references(cfg)                 # {"random policy": {mode: Reference}, "paper": {...}}
    >>> md, rows = comparison_table({"seed 0": returns}, cfg.eval_modes, refs, cfg, step=1000)

Random policy: uniform actions in [-1, 1] on the task with the run's action repeat and episode length,
``RANDOM_EPISODES`` episodes from the env's own start-state stream (seed ``RANDOM_SEED``), measured once and
cached in ``$SMG_FAST_CACHE/random_policy`` (default ``~/.cache/smg-fast/random_policy``; ``SMG_FAST_CACHE=none``:
no cache), keyed by task, mode, action repeat, episode length, episodes, seed and the mujoco / dm_control
versions. A random policy does not look at the pixels, so the episodes are played without rendering (the
env's frame renderer is replaced by a blank frame; tested to give the rendering env's returns), a few
seconds per task. DMC-GB's modes change only colours and backgrounds, never the dynamics, so one
measurement on the training scene serves every DMC mode (tested); the robot tasks' test scenes are
separate scenes and are measured one by one.

Paper: :func:`smg_fast.experiments.paper.lookup` for (task, mode, algo), or the ablation variant when the run drops one
of the losses its method declares (SMG's): the mean ± std over the paper's 4 seeds after its full training budget.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RANDOM_EPISODES = 20
RANDOM_SEED = 0
CACHE_ENV_VAR = "SMG_FAST_CACHE"
_CACHE_VERSION = 1
RANDOM, PAPER = "random policy", "paper"


@dataclass(frozen=True)
class Reference:
    """``mean`` ± ``std`` over ``n`` episodes (random policy) or seeds (paper); ``note``: where it comes from
    (e.g. ``Table 7``)."""

    mean: float
    std: float
    n: int
    note: str = ""


# ----------------------------------------------------------------------------------------------------
# Random policy.

def cache_dir() -> Path | None:
    """``$SMG_FAST_CACHE/random_policy``, default ``~/.cache/smg-fast/random_policy``; None when
    ``SMG_FAST_CACHE=none``. Never the data directory (it may be a shared reference folder)."""
    env = os.environ.get(CACHE_ENV_VAR)
    if env and env.lower() == "none":
        return None
    from smg_fast.data import default_data_dir

    return (Path(env).expanduser() if env else default_data_dir()) / "random_policy"


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in ("mujoco", "dm_control"):
        try:
            out.append(version(pkg))
        except PackageNotFoundError:
            out.append("none")
    return "-".join(out)


def measured_modes(task: str, modes) -> dict[str, str]:
    """{mode: the mode whose measurement it uses}: every DMC mode uses ``train`` (appearance never changes the
    dynamics); a robot scene uses itself."""
    from smg_fast.tasks import is_robot_task

    return {m: (m if is_robot_task(task) else "train") for m in modes}


def _key(task: str, mode: str, action_repeat: int, episode_length: int, episodes: int, seed: int) -> str:
    return (f"{task}-{mode}-ar{action_repeat}-len{episode_length}-n{episodes}-seed{seed}-{_versions()}"
            f"-v{_CACHE_VERSION}.json")


def play_random(task: str, mode: str, action_repeat: int, episode_length: int, episodes: int = RANDOM_EPISODES,
                seed: int = RANDOM_SEED, *, render: bool = False, bar=None) -> list[float]:
    """Returns of ``episodes`` episodes of uniform random actions on one env of ``task`` in ``mode`` (its own
    start-state stream, seeded ``seed``). ``render=False`` skips the pixels (a random policy never looks);
    ``bar``: a tqdm bar advanced once per agent step."""
    from smg_fast import envs
    from smg_fast.tasks import is_robot_task

    kw = dict(frame_stack=1, image_size=16 if is_robot_task(task) else 84, episode_length=episode_length)
    if not is_robot_task(task):
        kw["action_repeat"] = action_repeat
    env = envs.make(task, mode, seed, **kw)
    if not render:
        blank = np.zeros((3, env.image_size, env.image_size), np.uint8)
        env._render = lambda: blank  # the env's only pixel source (DMCEnv and RobotEnv): skipped here
    rng = np.random.default_rng(seed)
    shape = env.action_space.shape
    out = []
    try:
        for _ in range(episodes):
            env.reset()
            total, done = 0.0, False
            while not done:
                _, reward, terminated, truncated, _ = env.step(rng.uniform(-1.0, 1.0, shape).astype(np.float32))
                total += reward
                done = terminated or truncated
                if bar is not None:
                    bar.update(1)
            out.append(float(total))
    finally:
        env.close()
    return out


def random_policy(task: str, modes, action_repeat: int, episode_length: int, episodes: int = RANDOM_EPISODES,
                  seed: int = RANDOM_SEED, progress: bool = False) -> dict[str, Reference]:
    """{mode: Reference} of a uniform random policy (see the module doc), from the cache where it holds one."""
    from smg_fast.tasks import is_robot_task

    if is_robot_task(task):
        action_repeat = 1
    which = measured_modes(task, modes)
    root = cache_dir()
    measured: dict[str, list[float]] = {}
    todo = []
    for mode in dict.fromkeys(which.values()):
        path = root / _key(task, mode, action_repeat, episode_length, episodes, seed) if root else None
        try:
            measured[mode] = [float(x) for x in json.loads(path.read_text())["returns"]]
        except (AttributeError, OSError, ValueError, KeyError, TypeError):
            todo.append((mode, path))
    if todo:
        from smg_fast.run.progress import steps_bar

        steps = math.ceil(episode_length / action_repeat) * episodes * len(todo)
        with steps_bar(steps, f"random-policy baseline {task} (once, then cached)", progress) as bar:
            for mode, path in todo:
                measured[mode] = play_random(task, mode, action_repeat, episode_length, episodes, seed, bar=bar)
                if path is not None:
                    _write_json(path, {"task": task, "mode": mode, "action_repeat": action_repeat,
                                       "episode_length": episode_length, "seed": seed, "returns": measured[mode]})
    note = f"{episodes} episodes"
    return {m: Reference(float(np.mean(measured[src])), float(np.std(measured[src])), len(measured[src]), note)
            for m, src in which.items()}


def _write_json(path: Path, obj) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
        tmp.write_text(json.dumps(obj))
        os.replace(tmp, path)  # atomic: runs of a sweep may measure the same task at once
    except OSError:
        pass  # an unwritable cache only costs a new measurement next time


# ----------------------------------------------------------------------------------------------------
# The paper.

def variant_of(cfg) -> str | None:
    """The paper's name for the run's variant: "" (the full model), "no-<loss>" (one of the losses its method
    declares for ablations dropped: the paper's Tables 3 and 9 for SMG), or None (a combination the paper does
    not report)."""
    from smg_fast.agent import method

    dropped = [f"no-{name}" for name, key in method(cfg.algo).losses.items() if getattr(cfg.agent, key, 1.0) == 0]
    if not dropped:
        return ""
    return dropped[0] if len(dropped) == 1 else None


def paper_references(task: str, modes, algo: str, variant: str | None = "") -> dict[str, Reference]:
    """{mode: Reference} of the paper's published mean ± std (4 seeds) for the modes it reports."""
    if variant is None:
        return {}
    from smg_fast.experiments import paper

    table = paper.lookup()
    out = {}
    for mode in modes:
        hit = table.get((task, mode, algo, variant))
        if hit is not None:
            tid, mean, std = hit
            out[mode] = Reference(mean, std, paper.SEEDS, f"Table {tid}")
    return out


def comparable_to_paper(cfg) -> bool:
    """Whether a run's returns are on the paper's scale: the task's episode length and action repeat (a
    return sums the rewards of an episode's control steps)."""
    from smg_fast.tasks import task_spec

    spec = task_spec(cfg.task)
    return cfg.episode_length == spec.episode_length and cfg.action_repeat == spec.action_repeat


def run_paper_references(cfg, modes=None) -> dict[str, Reference]:
    """The paper's numbers for a run's task and method in ``modes`` (default: the run's evaluation modes);
    none when its episodes are not the paper's."""
    if not comparable_to_paper(cfg):
        return {}
    return paper_references(cfg.task, list(cfg.eval_modes if modes is None else modes), cfg.algo, variant_of(cfg))


def run_references(cfg, progress: bool = False, modes=None) -> dict[str, dict[str, Reference]]:
    """The references of a run (:class:`~smg_fast.config.RunConfig`) in ``modes`` (default: its evaluation
    modes; ``smg-fast eval`` may evaluate others): ``{"random policy": {...}, "paper": {...}}``, keyed by the
    modes' labels (``distracting_cs@0.1``), as the run's results are."""
    from smg_fast.tasks import mode_label

    if modes is None:
        modes = [mode_label(m, getattr(cfg, "distracting_cs_intensity", None)) for m in cfg.eval_modes]
    modes = list(modes)
    return {RANDOM: random_policy(cfg.task, modes, cfg.action_repeat, cfg.episode_length, progress=progress),
            PAPER: run_paper_references(cfg, modes)}


# ----------------------------------------------------------------------------------------------------
# The table a run ends with.

def _cell(r: Reference | None, decimals: int = 1) -> str:
    if r is None:
        return "–"
    return f"{r.mean:.{decimals}f} (n = 1)" if r.n == 1 else f"{r.mean:.{decimals}f} ± {r.std:.{decimals}f}"


def comparison_table(per_seed: dict[str, dict[str, list[float]]], modes, refs: dict[str, dict[str, Reference]],
                     cfg=None, step: int | None = None) -> tuple[str, list[dict]]:
    """Markdown (rows: modes; columns: each seed's mean ± std over its episodes, the random policy, the paper)
    with notes that say what the references are and where the run stands, and the CSV rows (one per mode
    and seed: ``mode, seed, mean_return, std_return, episodes`` and the references' ``random_mean,
    random_std, paper_mean, paper_std, paper_table``)."""
    from smg_fast.run.evaluate import mean_std, seed_cells
    from smg_fast.tasks import task_spec

    seeds = list(per_seed)
    rand, pap = refs.get(RANDOM, {}), refs.get(PAPER, {})
    algo = getattr(cfg, "algo", "") if cfg is not None else ""
    budget = task_spec(cfg.task).train_steps if cfg is not None else None
    variant = (variant_of(cfg) or "") if cfg is not None else ""
    paper_col = (f"paper ({algo}{' ' + variant if variant else ''}, {budget // 1000}k steps)"
                 if cfg is not None and pap else "paper")
    head = ["mode", *seeds] + (["all seeds"] if len(seeds) > 1 else []) + [RANDOM] + ([paper_col] if pap else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows, standing = [], {}
    for mode in modes:
        cells, means, mode_rows = seed_cells(per_seed, mode)
        rows += mode_rows
        if len(seeds) > 1:
            cells.append(mean_std(means) if means else "–")
        ref = rand.get(mode)
        cells.append(_cell(ref))
        if pap:
            p = pap.get(mode)
            cells.append(f"{_cell(p, 0)} ({p.note})" if p else "–")
        lines.append(f"| {mode} | " + " | ".join(cells) + " |")
        if means and ref is not None:
            m = float(np.mean(means))
            standing[mode] = "above" if m > ref.mean + ref.std else "below" if m < ref.mean - ref.std else "within"
    for row in rows:
        r, p = rand.get(row["mode"]), pap.get(row["mode"])
        row.update(random_mean=r.mean if r else "", random_std=r.std if r else "",
                   paper_mean=p.mean if p else "", paper_std=p.std if p else "", paper_table=p.note if p else "")
    notes = []
    if rand:
        any_ref = next(iter(rand.values()))
        same = "; appearance does not change its returns, so one measurement serves every mode" if (
            cfg is not None and len(set(measured_modes(cfg.task, rand).values())) == 1 and len(rand) > 1) else ""
        notes.append(f"{RANDOM}: uniform random actions on the same task, mean ± std over {any_ref.n} episodes{same}.")
    if pap:
        notes.append(f"paper: the published mean ± std over 4 seeds after {budget:,} steps with the paper's settings "
                     "(smg_fast/experiments/paper_results.json).")
    if standing and cfg is not None and step is not None:
        counts = {k: sum(v == k for v in standing.values()) for k in ("above", "within", "below")}
        where = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        share = f" ({100 * step / budget:.2g}% of the paper's {budget:,})" if budget and step < budget else ""
        if counts["above"] == 0:
            verdict = ("not distinguishable from a random policy yet" if counts["below"] == 0 else
                       "not above a random policy yet (a deterministic policy that has not learned can score "
                       "below a random one)")
        else:
            verdict = "above the random policy's spread in " + (
                "every mode" if counts["above"] == len(standing) else f"{counts['above']} of {len(standing)} modes")
        notes.append(f"This run, after {step:,} steps{share}: {verdict} (modes above / within / below the random "
                     f"policy's mean ± std: {where}).")
    md = "\n".join(lines)
    if notes:
        md += "\n\n" + "\n".join(notes)
    return md, rows


CSV_FIELDS = ["mode", "seed", "mean_return", "std_return", "episodes", "random_mean", "random_std", "paper_mean",
              "paper_std", "paper_table"]


def write_comparison(markdown: str, rows: list[dict], out_stem) -> tuple[Path, Path]:
    from smg_fast.run.evaluate import write_table

    return write_table(markdown, rows, out_stem, CSV_FIELDS)
