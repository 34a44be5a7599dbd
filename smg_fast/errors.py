"""The errors a user can act on, each with a message that names the value and what is allowed; the command
line turns them into one line on stderr and an exit status.

* :class:`SettingError` (a ValueError): a setting outside its rule; ``key`` names it, so the command line
  can say which flag it came from;
* :class:`UsageError` (a ValueError): a command-line value that cannot work (exit status 2);
* :class:`NotAvailableError` (a RuntimeError): something this machine lacks: a GPU, data, a folder, memory
  (exit status 1);
* :class:`DataError` (a RuntimeError): a data file that is there but damaged (exit status 1);
* :class:`RunError` (a RuntimeError): a run stopped for a reason found while it ran (a NaN loss, a failed
  evaluation, a log that cannot be written), with its state saved (exit status 1).
* :class:`Notice` (a UserWarning): something to know that does not stop the command (part of an optional
  data set missing, a reference left out of a table); the command line shows each once, as one line
  ``smg-fast CMD: warning: ...``.
"""
from __future__ import annotations


class SettingError(ValueError):
    """A setting outside its rule. ``key``: the setting; ``value``: what it was; ``need``: what is allowed."""

    def __init__(self, key: str, value, need: str):
        self.key, self.value, self.need = key, value, need
        super().__init__(f"{key}={show_value(value)}: {need}")


class UsageError(ValueError):
    """A command-line value that cannot work; the message names the flag."""


class NotAvailableError(RuntimeError):
    """Something the command asks for that this machine does not have (a GPU, data, a folder, memory)."""


class DataError(RuntimeError):
    """A data file that is present but damaged; the message names it and the command that repairs it."""


class RunError(RuntimeError):
    """A run stopped for a reason found while it ran; the message says what was saved and how to go on."""


class Notice(UserWarning):
    """Something the user should know that does not stop the command; the message says what it means for
    the results and what to do about it."""


def show_value(value) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return str(value)
