"""A method declares itself (smg_fast/agent/specs/<name>.py): its declaration matches its update, it is read
without torch, the settings reference in docs/ is written from the declarations, and docs/methods.md's worked
example of a new method works as the page says."""
from __future__ import annotations

import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

import smg_fast.agent as agent_pkg
from smg_fast import cli
from smg_fast.agent import METHODS, ablation_losses, method
from smg_fast.agent.config import AuxConfig, SACConfig
from smg_fast.config import make_config, parse_setting
from smg_fast.settings_reference import render
from method_helpers import assert_round_trip_gives_identical_next_updates, random_replay, small_agent

REPO = Path(__file__).resolve().parents[1]


def test_settings_reference_is_current():
    committed = (REPO / "docs" / "settings.md").read_text()
    assert committed == render(), "docs/settings.md is stale: python -m smg_fast.settings_reference docs/settings.md"


@pytest.mark.parametrize("algo", list(METHODS))
def test_each_declaration_matches_its_update(algo):
    spec = method(algo)
    cls = spec.agent_class()
    assert cls.Config is spec.settings and spec.name == algo
    assert callable(getattr(cls, "explain", None)) == spec.explains
    agent = small_agent(algo, size=spec.frames.render)
    assert ("aux_opt" in agent.optimizers()) == spec.has_aux_model == isinstance(agent.cfg, AuxConfig)
    if spec.has_aux_model:
        assert agent.aux_update_freq == agent.cfg.aux_update_freq
    cfg = make_config("walker-walk", algo)
    assert cfg.image_size == spec.frames.render and type(cfg.agent) is spec.settings
    for weight in spec.losses.values():
        assert getattr(make_config("walker-walk", algo, **{weight: 0.0}).agent, weight) == 0.0


def test_the_declared_facts_that_used_to_live_elsewhere():
    """The values the CLI, the rules, grids and reports used to keep by name, now each method's own."""
    assert list(METHODS) == ["sac", "drq", "soda", "svea", "srm", "sgqn", "smg"]  # the paper's columns
    assert ablation_losses() == {"recon": "recon_weight", "mask": "mask_weight", "back": "back_weight",
                                 "action": "action_weight", "fore": "fore_weight",
                                 "q-consistency": "q_consistency_weight"}
    assert {m.name: m.frames.sizes for m in METHODS.values() if m.frames.sizes} == \
        {"soda": (84, 100), "sgqn": (84,), "smg": (84,)}
    assert [m.name for m in METHODS.values() if m.frames.render != 84] == ["soda"]
    assert [m.name for m in METHODS.values() if m.explains] == ["smg"]
    assert [m.name for m in METHODS.values() if m.has_aux_model] == ["soda", "sgqn", "smg"]
    assert (method("smg").settings().aux_lr, method("soda").settings().aux_lr, method("sgqn").settings().aux_lr) \
        == (1e-3, 3e-4, 3e-4)


def test_declarations_cli_rules_grids_and_reports_import_no_torch():
    code = ("import sys; from smg_fast import cli; cli.build_parser(); "
            "from smg_fast.config import make_config; make_config('walker-walk', 'smg', 'quick'); "
            "import smg_fast.experiments.grid, smg_fast.experiments.results, smg_fast.settings_reference; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


# ---- docs/methods.md's worked example ----------------------------------------------------------------------

def _example_files() -> dict[str, str]:
    """The page's Python blocks whose first line names a file: {path: code}."""
    text = (REPO / "docs" / "methods.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    return {b.splitlines()[0][2:].strip(): b for b in blocks if b.startswith("# smg_fast/")}


@pytest.fixture
def gray_method(monkeypatch):
    """The example's two modules loaded from the page, and its registry line added to METHODS."""
    files = _example_files()
    assert set(files) == {"smg_fast/agent/specs/gray.py", "smg_fast/agent/gray.py"}
    for path in ("smg_fast/agent/specs/gray.py", "smg_fast/agent/gray.py"):  # the declaration first
        name = path[:-3].replace("/", ".")
        module = types.ModuleType(name)
        module.__file__ = str(REPO / path)
        monkeypatch.setitem(sys.modules, name, module)
        exec(compile(files[path], path, "exec"), module.__dict__)
    text = (REPO / "docs" / "methods.md").read_text()
    line = re.search(r'^    "gray": gray\.SPEC,$', text, re.M)
    assert line, "the page shows the registry line"
    monkeypatch.setitem(agent_pkg.METHODS, "gray", sys.modules["smg_fast.agent.specs.gray"].SPEC)
    return sys.modules["smg_fast.agent.gray"]


def test_the_worked_example_of_a_new_method(gray_method, capsys, tmp_path):
    cfg = make_config("walker-walk", "gray", "quick")
    assert cfg.agent.gray_prob == 0.3 and isinstance(cfg.agent, SACConfig)
    assert parse_setting("gray", "gray_prob", "0.5") == 0.5
    # The page's refusal, through the command line.
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "--algo", "gray", "--task", "cartpole-swingup", "--preset", "quick", "--set",
                  "gray_prob=2", "--run-dir", str(tmp_path / "run"), "--no-progress"])
    assert e.value.code == 2
    assert "--set gray_prob=2: must be a number in [0, 1]" in capsys.readouterr().err
    assert "## gray" in render() and "`gray_prob`" in render()

    # Its update: the drawn samples turn grey (the three channels of each frame equal), the others do not.
    agent = small_agent("gray", gray_prob=0.5)
    buf = random_replay()
    b = agent.sample(buf)
    plan = agent.plan(b, buf, 2)
    assert 0 < int(plan.gray.sum()) < b.obs.shape[0]
    obs = agent.augment(b, plan).obs.view(b.obs.shape[0], 3, 3, 84, 84)
    same = (obs[:, :, 0] == obs[:, :, 1]).flatten(1).all(1) & (obs[:, :, 1] == obs[:, :, 2]).flatten(1).all(1)
    assert torch.equal(same, plan.gray)
    for step in (2, 3):
        metrics = agent.update(buf, step)
        assert all(torch.isfinite(v) for v in metrics.values())
    assert_round_trip_gives_identical_next_updates("gray")
