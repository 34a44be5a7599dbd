"""The command that runs smg-fast, as the user ran it, so that the commands hints print (resume a run, fetch
data, run the doctor) work when pasted into the same shell: ``smg-fast`` where that name is on the PATH,
the path typed otherwise (``.venv/bin/smg-fast`` without the venv activated), ``python -m smg_fast.cli``
when run as a module. Outside the command line (a library call, a test) it is ``smg-fast``.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

NAME = "smg-fast"
MODULE = "smg_fast.cli"


def _same_file(a: str | None, b: str) -> bool:
    try:
        return a is not None and os.path.samefile(a, b)
    except OSError:
        return False


def _as_typed(path: str) -> str:
    """``path`` relative to the working directory when it lies below it (how it is usually typed)."""
    p = Path(path)
    if p.is_absolute():
        try:
            return os.path.join(".", str(p.relative_to(Path.cwd())))
        except ValueError:
            return str(p)
    return path if "/" in path else os.path.join(".", path)


def program(argv0: str | None = None) -> str:
    """How to run smg-fast again in this shell (see the module doc)."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    if not argv0:
        return NAME
    if Path(argv0).name == NAME:  # the console script
        return NAME if _same_file(shutil.which(NAME), argv0) else _as_typed(argv0)
    if Path(argv0).name == "__main__.py" and Path(argv0).parent.name == "cli" \
            and Path(argv0).parent.parent.name == "smg_fast":
        python = "python" if _same_file(shutil.which("python"), sys.executable) else _as_typed(sys.executable)
        return f"{python} -m {MODULE}"
    return NAME


def command(args: str) -> str:
    """``args`` after :func:`program`, e.g. ``command("train --resume runs/x")``."""
    return f"{program()} {args}"
