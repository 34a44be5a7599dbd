"""Experiment grid files: which training runs a sweep holds, and the command line of each.

A grid is a TOML file (YAML too, when PyYAML is installed)::

    name = "table1"
    methods = ["sac", "drq", "smg"]            # --algo of each run (the train command checks the names)
    tasks = ["walker-walk", "cheetah-run"]
    seeds = [0, 1, 2, 3]                       # or a count: seeds = 4 means 0, 1, 2, 3
    presets = ["paper"]                        # or preset = "paper" (the default)
    steps = 500000                             # optional; default: the preset's, per task
    eval_modes = "all"                         # optional: --eval-modes
    args = ["--no-pictures"]                   # optional: more train flags for every run
    max_retries = 2                            # failed attempts retried per run (default 2)

    [set]                                      # --set KEY=VALUE for every run
    eval_episodes = 5

    [method_options.smg]                       # only the runs of one method (or task_options."<task>")
    set = { attribution_prob = 0.5 }
    args = []

    [ablations.full]                           # named variants: each run of the grid once per ablation
    [ablations.no_fore]
    no = ["fore"]                              # --no-fore: losses a method declares for ablations
    [ablations.rho_008]
    set = { mask_ratio = 0.08 }

    [resources]                                # per run; Ray schedules as many as fit
    cpus = 1                                   # CPU cores (a float is allowed)
    gpus = 0.5                                 # GPUs, fractions allowed; > 0 selects --device cuda
    max_concurrent = 8                         # optional cap on runs at once

Every combination method × task × seed × preset × ablation is one run, in its own directory
``<sweep>/runs/<task>/<label>/seed<N>`` where label is the method, ``+<ablation>`` when the grid
has ablations, and ``@<preset>`` for a preset other than ``paper``.
"""
from __future__ import annotations

import itertools
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from smg_fast.agent import ablation_losses

TOP_KEYS = {"name", "methods", "tasks", "seeds", "presets", "preset", "steps", "eval_modes", "args", "set",
            "method_options", "task_options", "ablations", "resources", "max_retries", "device"}
OPTION_KEYS = {"set", "args"}
ABLATION_KEYS = {"no", "set", "args"}
RESOURCE_KEYS = {"cpus", "gpus", "max_concurrent"}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
GRID_COPY = "grid.json"  # the parsed grid, saved in the sweep directory


class GridError(ValueError):
    """A grid file that cannot describe runs; the message names the file and the key."""


@dataclass(frozen=True)
class RunSpec:
    """One training run of a grid."""

    task: str
    method: str
    seed: int
    preset: str = "paper"
    ablation: str = ""
    steps: int | None = None
    eval_modes: str | None = None
    sets: tuple[tuple[str, str], ...] = ()
    no: tuple[str, ...] = ()
    args: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The column this run belongs to in a report: method[+ablation][@preset]."""
        out = self.method + (f"+{self.ablation}" if self.ablation else "")
        return out + (f"@{self.preset}" if self.preset != "paper" else "")

    @property
    def run_id(self) -> str:
        return f"{self.task}/{self.label}/seed{self.seed}"

    def train_args(self, run_dir: Path, device: str | None = None) -> list[str]:
        """Arguments after ``smg-fast train`` for a fresh start."""
        out = ["--task", self.task, "--algo", self.method, "--seed", str(self.seed), "--preset", self.preset]
        if self.steps is not None:
            out += ["--steps", str(self.steps)]
        if self.eval_modes is not None:
            out += ["--eval-modes", self.eval_modes]
        for loss in self.no:
            out.append(f"--no-{loss}")
        for key, value in self.sets:
            out += ["--set", f"{key}={value}"]
        out += list(self.args)
        if device:
            out += ["--device", device]
        return out + ["--run-dir", str(run_dir), "--no-progress"]

    def resume_args(self, run_dir: Path, device: str | None = None) -> list[str]:
        """Arguments after ``smg-fast train`` to continue: the run's config.json holds the rest."""
        out = ["--resume", str(run_dir), "--no-progress"]
        if "--no-pictures" in self.args:
            out.append("--no-pictures")
        return out + (["--device", device] if device else [])

    def expected_config(self) -> dict:
        """Config values this run must have (compared with a run directory's config.json before it
        is resumed, so a changed grid never silently continues a run made with other settings)."""
        out: dict = {"task": self.task, "algo": self.method, "seed": self.seed, "preset": self.preset}
        if self.steps is not None:
            out["train_steps"] = self.steps
        losses = ablation_losses()
        for loss in self.no:
            out[losses[loss]] = 0.0
        out.update(dict(self.sets))
        return out


@dataclass
class Grid:
    name: str
    runs: list[RunSpec]
    cpus: float = 1.0
    gpus: float = 0.0
    max_concurrent: int | None = None
    max_retries: int = 2
    device: str | None = None
    ablations: dict[str, dict] = field(default_factory=dict)
    source: dict = field(default_factory=dict)

    @property
    def run_device(self) -> str:
        return self.device or ("cuda" if self.gpus > 0 else "cpu")

    def full_ablation(self) -> str | None:
        """The reference variant of an ablation study: the one named ``full``, else the first one that
        changes nothing, else the first listed."""
        if not self.ablations:
            return None
        if "full" in self.ablations:
            return "full"
        for name, spec in self.ablations.items():
            if not spec.get("no") and not spec.get("set") and not spec.get("args"):
                return name
        return next(iter(self.ablations))


def _value(v, where: str) -> str:
    """A TOML value as the text of ``--set KEY=VALUE`` (the train command types it after the field)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, str)):
        return str(v)
    if isinstance(v, list) and all(isinstance(x, (int, float, str)) for x in v):
        return ",".join(str(x) for x in v)
    raise GridError(f"{where}: {v!r} is not a number, string, boolean or list of them")


def _sets(table, where: str) -> tuple[tuple[str, str], ...]:
    if table is None:
        return ()
    if not isinstance(table, dict):
        raise GridError(f"{where} must be a table of KEY = VALUE")
    return tuple((str(k), _value(v, f"{where}.{k}")) for k, v in table.items())


def _strings(value, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise GridError(f"{where} must be a list of strings")
    return list(value)


def _check_keys(table: dict, allowed: set[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise GridError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}")


def _options(raw: dict, key: str, names: list[str]) -> dict[str, dict]:
    table = raw.get(key, {})
    if not isinstance(table, dict):
        raise GridError(f"[{key}] must be a table of tables")
    for name, opts in table.items():
        if name not in names:
            raise GridError(f"[{key}.{name}]: {name!r} is not in the grid's {key.split('_')[0]}s ({', '.join(names)})")
        if not isinstance(opts, dict):
            raise GridError(f"[{key}.{name}] must be a table")
        _check_keys(opts, OPTION_KEYS, f"[{key}.{name}]")
    return table


def parse_grid(raw: dict, name: str = "grid") -> Grid:
    """Build the runs of a grid from its parsed file (a dict); GridError names what is wrong."""
    if not isinstance(raw, dict):
        raise GridError("a grid file must hold a table of keys")
    _check_keys(raw, TOP_KEYS, "grid")
    for key in ("methods", "tasks", "seeds"):
        if key not in raw:
            raise GridError(f"grid: '{key}' is required (e.g. methods = [\"sac\", \"smg\"], tasks = "
                            "[\"walker-walk\"], seeds = [0, 1, 2, 3])")
    methods, tasks = _strings(raw["methods"], "methods"), _strings(raw["tasks"], "tasks")
    for what, names in (("methods", methods), ("tasks", tasks)):
        if not names:
            raise GridError(f"grid: '{what}' is empty")
        bad = [n for n in names if not NAME.match(n)]
        if bad:
            raise GridError(f"grid: {what} {bad} are not plain names (letters, digits, '-', '_', '.')")
        if len(set(names)) != len(names):
            raise GridError(f"grid: {what} lists a name twice")
    seeds = raw["seeds"]
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise GridError("grid: seeds = N needs N >= 1")
        seeds = list(range(seeds))
    if (not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds)
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise GridError("grid: seeds must be a count or a list of distinct non-negative integers")
    if "preset" in raw and "presets" in raw:
        raise GridError("grid: give 'preset' or 'presets', not both")
    presets = _strings(raw.get("presets", raw.get("preset", "paper")), "presets")
    if not presets or not all(NAME.match(p) for p in presets):
        raise GridError("grid: presets must be plain names")
    steps = raw.get("steps")
    if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 1):
        raise GridError("grid: steps must be a positive integer")
    eval_modes = raw.get("eval_modes")
    if eval_modes is not None:
        eval_modes = ",".join(_strings(eval_modes, "eval_modes"))
    common_args = _strings(raw.get("args", []), "args")
    common_sets = _sets(raw.get("set"), "[set]")
    method_opts = _options(raw, "method_options", methods)
    task_opts = _options(raw, "task_options", tasks)

    ablations = raw.get("ablations", {})
    if not isinstance(ablations, dict):
        raise GridError("[ablations] must be a table of named tables")
    for ab_name, spec in ablations.items():
        where = f"[ablations.{ab_name}]"
        if not NAME.match(ab_name):
            raise GridError(f"{where}: the name must be letters, digits, '-', '_' or '.'")
        if not isinstance(spec, dict):
            raise GridError(f"{where} must be a table (an empty one for the full model)")
        _check_keys(spec, ABLATION_KEYS, where)
        losses = ablation_losses()
        bad = [x for x in _strings(spec.get("no", []), f"{where}.no") if x not in losses]
        if bad:
            raise GridError(f"{where}.no: unknown loss(es) {bad}; choose from {', '.join(losses)}")

    resources = raw.get("resources", {})
    if not isinstance(resources, dict):
        raise GridError("[resources] must be a table")
    _check_keys(resources, RESOURCE_KEYS, "[resources]")
    cpus, gpus = resources.get("cpus", 1), resources.get("gpus", 0)
    for key, v in (("cpus", cpus), ("gpus", gpus)):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
            raise GridError(f"[resources] {key} must be a non-negative number")
    if cpus <= 0:
        raise GridError("[resources] cpus must be > 0")
    if gpus > 1 and gpus != int(gpus):
        raise GridError("[resources] gpus: a fraction is allowed only below 1 (e.g. 0.5), else a whole number")
    max_concurrent = resources.get("max_concurrent")
    if max_concurrent is not None and (not isinstance(max_concurrent, int) or max_concurrent < 1):
        raise GridError("[resources] max_concurrent must be a positive integer")
    max_retries = raw.get("max_retries", 2)
    if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
        raise GridError("grid: max_retries must be a non-negative integer")
    device = raw.get("device")
    if device is not None and not isinstance(device, str):
        raise GridError("grid: device must be a string (cpu or cuda)")

    runs = []
    ab_items = list(ablations.items()) or [("", {})]
    for task, method, preset, (ab_name, ab), seed in itertools.product(tasks, methods, presets, ab_items, seeds):
        mo, to = method_opts.get(method, {}), task_opts.get(task, {})
        sets = dict(common_sets)
        sets.update(_sets(mo.get("set"), f"[method_options.{method}].set"))
        sets.update(_sets(to.get("set"), f"[task_options.{task}].set"))
        sets.update(_sets(ab.get("set"), f"[ablations.{ab_name}].set"))
        args = (common_args + _strings(mo.get("args", []), "args") + _strings(to.get("args", []), "args")
                + _strings(ab.get("args", []), "args"))
        runs.append(RunSpec(task=task, method=method, seed=seed, preset=preset, ablation=ab_name, steps=steps,
                            eval_modes=eval_modes, sets=tuple(sets.items()),
                            no=tuple(_strings(ab.get("no", []), "no")), args=tuple(args)))
    grid_name = raw.get("name", name)
    if not isinstance(grid_name, str) or not NAME.match(grid_name):
        raise GridError(f"grid: name {grid_name!r} must be a plain name (letters, digits, '-', '_', '.'; no '/'): "
                        "it names the sweep directory sweeps/<name>")
    return Grid(name=grid_name, runs=runs, cpus=float(cpus), gpus=float(gpus),
                max_concurrent=max_concurrent, max_retries=max_retries, device=device,
                ablations={k: dict(v) for k, v in ablations.items()}, source=raw)


def read_grid_file(path: str | Path) -> dict:
    """The raw table of a grid file: TOML (.toml) or YAML (.yaml / .yml, needs PyYAML) or the JSON copy
    a sweep directory keeps."""
    path = Path(path)
    if not path.is_file():
        raise GridError(f"grid file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            with open(path, "rb") as f:
                return tomllib.load(f)
        if suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise GridError(f"{path}: YAML grids need PyYAML (pip install pyyaml), "
                                "or write the grid as TOML") from None
            return yaml.safe_load(path.read_text()) or {}
        if suffix == ".json":
            return json.loads(path.read_text())
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise GridError(f"{path}: {e}") from e
    except Exception as e:  # yaml.YAMLError without importing yaml at module level
        if type(e).__module__.startswith("yaml"):
            raise GridError(f"{path}: {e}") from e
        raise
    raise GridError(f"{path}: a grid file ends in .toml, .yaml or .yml")


def load_grid(path: str | Path) -> Grid:
    """A grid from a file, or from a sweep directory (its saved copy)."""
    path = Path(path)
    if path.is_dir():
        saved = path / GRID_COPY
        if not saved.is_file():
            raise GridError(f"{path} is a directory without {GRID_COPY}: not a sweep directory")
        path = saved
    try:
        return parse_grid(read_grid_file(path), name=path.stem if path.name != GRID_COPY else path.parent.name)
    except GridError as e:
        msg = str(e)
        raise GridError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
