"""Help that reads cleanly (issue 29): every subcommand's --help is plain text (no reST roles or literals),
gives each option one default at most, has help for every option and names the choices and extras a user
needs; building the parser (what `smg-fast --help` does) imports no torch, so the help prints at once."""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys

import pytest

from smg_fast import cli
from smg_fast.cli import data as data_cli

REST = re.compile(r":(?:mod|func|class|meth|attr|data|obj|ref|doc):`|``")
DEFAULT = re.compile(r"\bdefault\b", re.I)


def parsers() -> dict[str, argparse.ArgumentParser]:
    """Every parser a user can ask for --help: the top level, each subcommand, `data download`."""
    top = cli.build_parser()
    out = {"smg-fast": top}
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        out[f"smg-fast {name}"] = p
    out["smg-fast data download"] = data_cli.build_parser()
    return out


PARSERS = parsers()


def options(parser: argparse.ArgumentParser):
    """The options and positionals a user sees (not -h, not suppressed ones, not the subcommand list)."""
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) or action.help == argparse.SUPPRESS:
            continue
        yield action


@pytest.mark.parametrize("name", list(PARSERS))
def test_help_is_plain_text(name):
    text = PARSERS[name].format_help()
    assert not REST.search(text), f"{name} --help shows reST markup: {REST.search(text).group(0)!r}\n{text}"


@pytest.mark.parametrize("name", list(PARSERS))
def test_every_option_has_help_with_one_default_at_most(name):
    parser = PARSERS[name]
    text = parser.format_help()
    assert "(default: None)" not in text and "(default: False)" not in text, text
    for action in options(parser):
        flag = "/".join(action.option_strings) or action.dest
        help_text = parser._get_formatter()._expand_help(action) if action.help else ""
        assert help_text.strip(), f"{name} {flag} has no help"
        assert len(DEFAULT.findall(help_text)) <= 1, f"{name} {flag}: more than one default: {help_text!r}"


def test_choices_and_extras_are_named():
    train = PARSERS["smg-fast train"].format_help()
    overlay = re.search(r"\n  --overlay-source.*?(?=\n  -)", train, re.S).group(0)
    for source in ("procedural", "places365", "folder:"):
        assert source in overlay, overlay
    sweep = PARSERS["smg-fast sweep"].format_help()
    assert "[sweep]" in sweep and "Ray" in sweep, sweep
    top = PARSERS["smg-fast"].format_help()
    for command in ("train", "eval", "random", "visualize", "doctor", "demo", "data", "sweep", "report", "build"):
        assert f"    {command}" in top, command


def test_building_the_parser_imports_no_torch():
    """What `smg-fast --help` and `smg-fast train --help` run before printing: no torch (seconds of CPU), no
    dm_control, no Ray."""
    code = ("import sys, json; from smg_fast.cli import build_parser; p = build_parser(); "
            "p.format_help(); [s.choices['train'].format_help() for s in p._actions if hasattr(s, 'choices') "
            "and isinstance(s.choices, dict)]; "
            "print(json.dumps(sorted(m for m in ('torch', 'dm_control', 'mujoco', 'ray', 'numpy') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ})
    assert out.returncode == 0, out.stderr
    heavy = json.loads(out.stdout.strip().splitlines()[-1])
    assert not set(heavy) & {"torch", "dm_control", "mujoco", "ray"}, heavy


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"]])
def test_help_commands_print_without_importing_torch(argv):
    """The real entry point, timed by Python's own import log: torch is never imported for --help."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "smg_fast.cli", *argv], capture_output=True,
                         text=True, timeout=300, env={**os.environ})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage: smg-fast" in out.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert "torch" not in imported and "dm_control" not in imported, sorted(m for m in imported if "torch" in m)
