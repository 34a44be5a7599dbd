"""What a method declares about itself (:class:`Method`): its settings, the frames it renders and can take, the
losses an ablation may drop, what it can draw, and where its update is. Each method's declaration is
``smg_fast/agent/specs/<name>.py``, registered by name in :data:`smg_fast.agent.METHODS`; the command line,
the setting rules, grids, reports and the docs read declarations, never a method's name, and none of them
imports torch (the update is imported when an agent is built).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from smg_fast.agent.config import AuxConfig, SACConfig
from smg_fast.rules import Setting, settings_of


@dataclass(frozen=True)
class Frames:
    """The frames a method renders and the sizes it can take: ``render`` is the run's default ``image_size``;
    ``sizes`` the only sizes it can use (None: any), ``why`` says why (the error of another size names it);
    ``crop`` the size its networks see after a random crop of larger frames (None: no crop)."""

    render: int = 84
    sizes: tuple[int, ...] | None = None
    why: str = ""
    crop: int | None = None


@dataclass(frozen=True)
class Method:
    """A method's declaration.

    * ``name``: its ``--algo``; ``title``: one line saying what it is; ``paper``: where it comes from;
    * ``settings``: its settings class, :class:`~smg_fast.agent.config.SACConfig` or an extension of it whose
      fields carry their rules (:func:`smg_fast.rules.setting`); extending
      :class:`~smg_fast.agent.config.AuxConfig` means an auxiliary model;
    * ``agent``: ``"module:Class"`` of its update, a :class:`smg_fast.agent.core.SACCore` subclass (imported by
      :meth:`agent_class`);
    * ``frames``: :class:`Frames`;
    * ``losses``: the losses an ablation may drop, ``{name: weight setting}``: the train command's
      ``--no-<name>``, a grid's ``no = [name]``, the report's and the paper's ``no-<name>`` variants;
    * ``explains``: its agent draws what it sees (``explain()``: masks, backgrounds, attributions), which
      ``smg-fast visualize`` and the end-of-run pictures show.
    """

    name: str
    title: str
    settings: type
    agent: str
    paper: str = ""
    frames: Frames = Frames()
    losses: dict[str, str] = field(default_factory=dict)
    explains: bool = False

    def __post_init__(self):
        if not issubclass(self.settings, SACConfig):
            raise TypeError(f"{self.name}: its settings must extend SACConfig")
        own = settings_of(self.settings)
        unknown = [w for w in self.losses.values() if w not in own]
        if unknown:
            raise TypeError(f"{self.name}: losses name weights that are not its settings: {unknown}")

    @property
    def has_aux_model(self) -> bool:
        """Whether it trains an auxiliary model with its own optimiser (its settings extend AuxConfig)."""
        return issubclass(self.settings, AuxConfig)

    def agent_class(self) -> type:
        """Its update's class (imports it, and torch)."""
        module, _, name = self.agent.partition(":")
        return getattr(importlib.import_module(module), name)

    def own_settings(self) -> dict[str, Setting]:
        """The settings it adds to the SAC core's (the auxiliary model's included)."""
        shared = settings_of(SACConfig)
        return {k: s for k, s in settings_of(self.settings).items() if k not in shared}
