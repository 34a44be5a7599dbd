"""Agent settings shared by every method: the SAC core of upstream's ``src/arguments.py`` (paper Table 5 where it
gives them), and the settings of a method's auxiliary model (:class:`AuxConfig`). Each method extends
:class:`SACConfig` with its own settings in its declaration (``smg_fast/agent/specs/<name>.py``). Run-level
settings (task, device, run directory, schedule, evaluation, checkpoints) are :class:`smg_fast.config.RunConfig`.

Every field is declared with its rule and help (:func:`smg_fast.rules.setting`). Imports nothing heavy: the
command line, the rules and the docs read these without torch.
"""
from __future__ import annotations

from dataclasses import dataclass

from smg_fast.rules import BETA, FREQ, LR, UNIT, Flag, OneOf, Pattern, Range, setting

PRECISIONS = ("fp32", "bf16")
WIDTH = Range(lo=1, hi=65_536, integer=True)


@dataclass
class SACConfig:
    batch_size: int = setting(64, WIDTH, "transitions per update", flag="--batch-size")
    discount: float = setting(0.99, UNIT, "γ")
    hidden_dim: int = setting(1024, WIDTH, "width of the actor's and critics' MLPs")
    projection_dim: int = setting(256, WIDTH, "embedding size of the encoders' projections")
    num_shared_layers: int = setting(11, Range(lo=1, hi=64, integer=True),
                                     "conv layers of the shared trunk (upstream's 11; DrQ's own encoder has 4)")
    num_filters: int = setting(32, Range(lo=1, hi=4096, integer=True), "channels of each trunk layer")
    actor_lr: float = setting(1e-3, LR, "actor's Adam learning rate")
    critic_lr: float = setting(1e-3, LR, "critic's Adam learning rate")
    alpha_lr: float = setting(1e-4, LR, "temperature's Adam learning rate")
    alpha_beta: float = setting(0.5, BETA, "temperature's Adam β1")
    init_temperature: float = setting(0.1, Range(lo=0, lo_open=True), "α at the start")
    actor_log_std_min: float = setting(-10.0, Range(), "lower bound of the policy's log σ")
    actor_log_std_max: float = setting(2.0, Range(), "upper bound of the policy's log σ")
    actor_update_freq: int = setting(2, FREQ, "updates between actor and α steps")
    critic_target_update_freq: int = setting(2, FREQ, "updates between soft target updates")
    critic_tau: float = setting(0.01, UNIT, "τ_Q: soft-update rate of the target Q heads")
    encoder_tau: float = setting(0.05, UNIT, "τ_enc: soft-update rate of the target encoder")
    # augmentation sources: replay shifts (methods that shift), natural images for the methods that
    # overlay them ("folder:PATH" such as Places365, or "procedural")
    shift_pad: int = setting(4, Range(lo=0, hi=64, integer=True),
                             "replicate padding of the random shift (methods that shift their batches)")
    overlay_source: str = setting("procedural", Pattern(r"procedural|places365|folder:.+",
                                                        "procedural, places365 or folder:PATH"),
                                  "natural images of the overlay / attribution augmentations (procedural: "
                                  "generated textures)", flag="--overlay-source")
    overlay_alpha: float = setting(0.5, UNIT, "mixing factor of the natural-image overlay")
    # compute: fused ops (False: the pure-PyTorch references and eager decoders); precision "fp32" (the
    # paper's) or "bf16" (forward passes under bfloat16 autocast; parameters, Adam, losses and network
    # outputs stay float32); compile: the update's tensor part as torch.compile(fullgraph=True) graphs
    # (inductor; CUDA graphs on a GPU), see smg_fast/agent/compiled.py
    fused_ops: bool = setting(True, Flag(), "the fused ops (false: their pure-PyTorch references)")
    precision: str = setting("fp32", OneOf(PRECISIONS),
                             "fp32 (the paper's) or bf16: forward passes under bfloat16 autocast",
                             flag="--precision")
    compile: bool = setting(False, Flag(), "each update's tensor part as compiled graphs (same math, float rounding "
                                           "aside)")


@dataclass
class AuxConfig(SACConfig):
    """The settings of a method's auxiliary model (SMG's predictor, SODA's, SGQN's attribution predictor): its
    own Adam, stepped every ``aux_update_freq`` updates (:meth:`smg_fast.agent.core.SACCore.add_aux_model`).
    A method whose settings extend this class has an auxiliary model."""

    aux_lr: float = setting(3e-4, LR, "auxiliary model's Adam learning rate")
    aux_beta: float = setting(0.9, BETA, "auxiliary model's Adam β1")
    aux_update_freq: int = setting(2, FREQ, "updates between auxiliary steps")


def trunk_features(num_layers: int = 11, num_filters: int = 32, image_size: int = 84) -> int:
    """Flattened size of the shared trunk's output (:class:`smg_fast.agent.networks.SharedCNN`): one stride-2
    conv, then (num_layers − 1) unpadded stride-1 convs that each take 2 pixels off a side (11 layers at 84×84:
    32·21·21)."""
    side = (image_size - 3) // 2 + 1 - 2 * (num_layers - 1)
    if num_layers < 1 or side < 1:
        raise ValueError(f"a {num_layers}-layer trunk leaves no pixels of a {image_size}×{image_size} input")
    return num_filters * side * side
