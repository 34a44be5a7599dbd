"""Checkpoint recovery that cannot make things worse (issue 25, item 1), driven through ``smg-fast`` as a user
would: a damaged last replay segment or state file, a missing or unreadable ``checkpoint.json``, manifests with
missing keys or wrong types, a process killed with SIGKILL in every phase of a checkpoint write (and in the
middle of a file write, leaving a temporary file), a stop signal right after a periodic checkpoint. Each time the
run is recovered the way the message says and finishes; its replay then holds exactly the transitions of a run
that was never interrupted (none lost, none twice), and every file its manifest names verifies.

The loop is the real one over synthetic stand-ins (tests/synthetic.py): no rendering, no networks."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from smg_fast.run import checkpoint as ckpt
from smg_fast.run import trainer as trainer_module
from run_helpers import SYNTH_FLAGS, assert_same_replay, fails, manifest, smg, synthetic_train

TESTS = Path(__file__).parent


@pytest.fixture(autouse=True)
def _synthetic(monkeypatch):
    monkeypatch.setattr(trainer_module, "train", synthetic_train())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The checkpoint of a run that was never interrupted: 30 steps, then extended to 40 (its replay keeps the
    31 transitions of a 30-step run's)."""
    from smg_fast import cli

    run_dir = tmp_path_factory.mktemp("ref") / "r"
    with pytest.MonkeyPatch.context() as m:
        m.setattr(trainer_module, "train", synthetic_train())
        cli.main(["train", *SYNTH_FLAGS, "--run-dir", str(run_dir)])  # returns on success
        cli.main(["train", "--resume", str(run_dir), "--steps", "40", "--no-progress", "--no-pictures"])
    return ckpt.load_checkpoint(run_dir)


@pytest.fixture(scope="module")
def reference40(tmp_path_factory):
    """The checkpoint of a 40-step run that was never interrupted."""
    from smg_fast import cli

    run_dir = tmp_path_factory.mktemp("ref40") / "r"
    with pytest.MonkeyPatch.context() as m:
        m.setattr(trainer_module, "train", synthetic_train())
        cli.main(["train", *SYNTH_FLAGS, "--steps", "40", "--run-dir", str(run_dir)])
    return ckpt.load_checkpoint(run_dir)


@pytest.fixture
def run30(tmp_path, capsys):
    """A run that finished 30 steps: checkpoints at 20 (previous) and 30 (the last)."""
    run_dir = tmp_path / "r"
    code, err, _ = smg("train", *SYNTH_FLAGS, "--run-dir", str(run_dir), capsys=capsys)
    assert code == 0, err
    return run_dir


def every_named_file_verifies(run_dir: Path) -> None:
    m = manifest(run_dir)
    for entry in (m, m["previous"]):
        for record in [entry["state"], *entry["segments"]]:
            ckpt._verify(run_dir, record)  # raises on a missing, truncated or corrupted file


def finish_to_40(run_dir, capsys, *extra) -> str:
    code, err, _ = smg("train", "--resume", str(run_dir), "--steps", "40", *extra, capsys=capsys)
    assert code == 0, err
    return err


def _flip(path: Path, at: int = 200) -> None:
    data = bytearray(path.read_bytes())
    data[at:at + 64] = bytes(255 - b for b in data[at:at + 64])
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damaged", ["segment", "state"])
def test_a_damaged_last_checkpoint_is_recovered_as_the_message_says(run30, reference, capsys, damaged):
    """The issue's case: the last replay segment (or state file) damaged. --resume refuses and names
    --previous-checkpoint; following that advice finishes the run, and then --resume (and a further extension)
    works again: the next manifest names only verified or new files, and the previous checkpoint's files were
    kept until it existed."""
    m = manifest(run30)
    bad = run30 / (m["segments"][-1]["file"] if damaged == "segment" else m["state"]["file"])
    _flip(bad)
    fails(1, f"{bad} is corrupted", "the previous checkpoint (step 20)", "--previous-checkpoint",
          argv=["train", "--resume", str(run30)], capsys=capsys)
    prev_files = [m["previous"]["state"]["file"], *(s["file"] for s in m["previous"]["segments"])]
    code, err, _ = smg("train", "--resume", str(run30), "--previous-checkpoint", capsys=capsys)
    assert code == 0, err
    m2 = manifest(run30)
    assert m2["step"] == 30 and m2["previous"]["step"] == 20  # previous: the checkpoint it was resumed from
    assert all((run30 / f).is_file() for f in prev_files)
    every_named_file_verifies(run30)
    finish_to_40(run30, capsys)
    assert_same_replay(ckpt.load_checkpoint(run30), reference)
    assert ckpt.load_checkpoint(run30, previous=True)["step"] == 30


def test_a_missing_manifest_is_rebuilt_from_its_verified_copy(run30, reference, capsys):
    (run30 / "checkpoint.json").unlink()
    err = finish_to_40(run30, capsys)
    assert "checkpoint.json is missing; using the copy" in err and "(step 30)" in err
    assert_same_replay(ckpt.load_checkpoint(run30), reference)
    every_named_file_verifies(run30)


@pytest.mark.parametrize("damage", [
    lambda text: text[: len(text) // 2],                                     # cut short: not JSON
    lambda text: json.dumps({**json.loads(text), "step": "thirty"}),       # wrong type
    lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "segments"}),  # a key missing
], ids=["truncated", "wrong-type", "missing-key"])
def test_an_unreadable_manifest_is_replaced_by_its_newest_copy_that_verifies(run30, reference, capsys, damage):
    path = run30 / "checkpoint.json"
    path.write_text(damage(path.read_text()))
    err = finish_to_40(run30, capsys)
    assert "checkpoint.json is unreadable" in err and "using the copy" in err
    assert_same_replay(ckpt.load_checkpoint(run30), reference)


def test_a_copy_whose_files_do_not_verify_is_passed_over_for_an_older_one(run30, capsys):
    m = manifest(run30)
    (run30 / "checkpoint.json").unlink()
    _flip(run30 / m["state"]["file"])  # the newest copy's state: refused; the step-20 copy verifies
    code, err, _ = smg("train", "--resume", str(run30), capsys=capsys)
    assert code == 0, err
    assert "(step 20)" in err and manifest(run30)["step"] == 30


@pytest.mark.parametrize("manifest_text, needles", [
    ('{"format": 1, "step": "ten", "state": {}, "segments": []}', ["the checkpoint's step 'ten' is not an integer"]),
    ('{"format": 1, "step": 10, "segments": []}', ["the checkpoint lacks 'state'"]),
    ('{"format": 1, "step": 10, "state": {"file": "../../etc/passwd", "bytes": 1, "sha256": "' + "0" * 64 + '"}, '
     '"segments": []}', ["is not a file in checkpoint/"]),
    ('[1, 2, 3]', ["it is not a JSON object"]),
    ('{"format": 7}', ["has format 7; this version reads 1"]),
])
def test_a_manifest_that_is_not_one_is_one_line_naming_what_is_wrong(run30, capsys, manifest_text, needles):
    """Without a copy to fall back on (a run of an earlier version): one line, the problem and the way out."""
    for copy in (run30 / "checkpoint").glob("manifest-*.json"):
        copy.unlink()
    (run30 / "checkpoint.json").write_text(manifest_text)
    for argv in (["train", "--resume", str(run30)], ["eval", "--run", str(run30), "--modes", "train"]):
        fails(1, *needles, "no checkpoint can be rebuilt", "restore checkpoint.json from a backup", argv=argv,
              capsys=capsys)


def test_a_directory_with_state_files_but_nothing_to_verify_them_says_so(run30, capsys):
    (run30 / "checkpoint.json").unlink()
    for copy in (run30 / "checkpoint").glob("manifest-*.json"):
        copy.unlink()
    fails(1, "checkpoint.json is missing and no checkpoint can be rebuilt", "holds state files (newest "
          "state-0000000030.pt) but no manifest copy", argv=["train", "--resume", str(run30)], capsys=capsys)
    assert len(list((run30 / "checkpoint").glob("state-*.pt"))) == 2  # nothing was deleted


KILL = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {tests!r})
    from smg_fast.run import checkpoint as ckpt
    from smg_fast.run import trainer
    from run_helpers import SYNTH_FLAGS, synthetic_train
    from smg_fast import cli
    trainer.train = synthetic_train()
    where = {where!r}
    seen = {{"n": 0}}
    def after(name):
        if name == where:
            seen["n"] += 1
            if seen["n"] == 3:  # the third checkpoint (step 30)
                os.kill(os.getpid(), 9)
    ckpt._after_phase = after
    real_replace = os.replace
    def replace(src, dst):
        if where == "mid-write" and ".tmp-" in str(src) and "state-0000000030" in str(dst):
            os.kill(os.getpid(), 9)  # the state file is written, not yet renamed
        return real_replace(src, dst)
    ckpt.os.replace = replace
    cli.main(["train", *SYNTH_FLAGS, "--steps", "40", "--run-dir", {run_dir!r}])
""")


@pytest.mark.parametrize("where", ["mid-write", "state", "segment", "manifest", "prune"])
def test_sigkill_in_any_phase_ends_resumable_with_no_transition_lost_or_twice(tmp_path, reference40, capsys, where):
    run_dir = tmp_path / "r"
    code = KILL.format(tests=str(TESTS), where=where, run_dir=str(run_dir))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    leftovers = list((run_dir / "checkpoint").glob(".*.tmp-*"))
    assert bool(leftovers) == (where == "mid-write")
    code, err, _ = smg("train", "--resume", str(run_dir), capsys=capsys)
    assert code == 0, err
    assert not list((run_dir / "checkpoint").glob(".*.tmp-*"))  # removed when the run started again
    assert_same_replay(ckpt.load_checkpoint(run_dir), reference40)
    every_named_file_verifies(run_dir)


def test_a_stop_right_after_a_periodic_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, capsys):
    """SIGTERM while the step-20 checkpoint is written: the loop saves again at step 20. That second manifest's
    "previous" is step 10 (not the step-20 state file it just replaced), which still loads."""
    seen = {"n": 0}

    def after(name):
        if name == "manifest":
            seen["n"] += 1
            if seen["n"] == 2:
                os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(ckpt, "_after_phase", after)
    run_dir = tmp_path / "r"
    # written in the loop: in the background the loop would be steps further when the signal arrives
    code, err, _ = smg("train", *SYNTH_FLAGS, "--set", "async_checkpoint=false", "--run-dir", str(run_dir),
                       capsys=capsys)
    assert code == 128 + signal.SIGTERM and "SIGTERM at step 20" in err, err
    m = manifest(run_dir)
    assert m["step"] == 20 and m["previous"]["step"] == 10
    assert ckpt.load_checkpoint(run_dir, previous=True)["step"] == 10
    every_named_file_verifies(run_dir)


def test_pruning_deletes_nothing_without_a_readable_manifest(run30):
    files = sorted((run30 / "checkpoint").iterdir())
    (run30 / "checkpoint.json").unlink()
    ckpt.Checkpointer(run30).prune()
    assert sorted((run30 / "checkpoint").iterdir()) == files
    (run30 / "checkpoint_nonfinite.json").write_text("{not json")
    shutil.copy(run30 / "checkpoint" / "manifest-0000000030.json", run30 / "checkpoint.json")
    ckpt.Checkpointer(run30).prune()
    assert sorted((run30 / "checkpoint").iterdir()) == files


def test_eval_and_visualize_take_previous_checkpoint(run30, monkeypatch, capsys):
    """They advise --previous-checkpoint for a damaged last checkpoint, so they accept it: the run's
    previous checkpoint is what they load (the synthetic run has no real networks, so loading stops at
    the agent, past the checkpoint's verification)."""
    m = manifest(run30)
    _flip(run30 / m["segments"][-1]["file"])
    fails(1, "--previous-checkpoint", argv=["eval", "--run", str(run30), "--modes", "train"], capsys=capsys)
    loaded = []

    def load_agent(run, device="cpu", previous=False):
        state, entry = ckpt.load_state(run, previous=previous)
        loaded.append(entry["step"])
        raise ckpt.CheckpointError("stop here")

    import smg_fast.run.checkpoint as module

    monkeypatch.setattr(module, "load_agent", load_agent)
    fails(1, "stop here", argv=["eval", "--run", str(run30), "--modes", "train", "--previous-checkpoint"],
          capsys=capsys)
    from smg_fast.cli import visualize
    from smg_fast.config import make_config

    monkeypatch.setattr(visualize, "run_config", lambda run: make_config("cartpole-swingup", "smg", "quick"))
    fails(1, "stop here", argv=["visualize", "--run", str(run30), "--modes", "train", "--previous-checkpoint"],
          capsys=capsys)
    assert loaded == [20, 20]
