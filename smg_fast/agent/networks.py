"""Networks of SAC and SMG, shaped exactly as the upstream code builds them
(``src/algorithms/modules.py`` of DinoMini00/SMG; see ``../shared/docs/smg-reference.md`` §1).

Paper vs code: the paper (App. C.2) describes a 12-layer encoder with stride 1 first and 2 after;
the code, which we follow, has 11 unpadded 3×3 convs, the stride-2 one first, no ReLU before the
flatten (32×21×21 = 14112 features).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

import smg_fast.ops as ops
from smg_fast.agent.config import trunk_features


def full_precision(t: torch.Tensor) -> torch.Tensor:
    """A network output as float32 when autocast made it 16-bit (float64 and float32 pass as they
    are), so heads, losses and the fused image ops downstream compute in full precision."""
    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t


FEATURES = trunk_features()  # 32·21·21 = 14112, the paper's trunk at 84×84


def weight_init(m: nn.Module) -> None:
    """Upstream's init: orthogonal Linear weights, delta-orthogonal convs (centre tap orthogonal with
    ReLU gain, other taps zero), zero biases. Applied to the trunk, projections, actor, Q functions
    and the inverse-dynamics MLP; the AuxHead and decoders keep PyTorch's default init."""
    if isinstance(m, nn.Linear):
        nn.init.orthogonal_(m.weight.data)
        if m.bias is not None:
            m.bias.data.fill_(0.0)
    elif isinstance(m, nn.Conv2d):
        assert m.weight.size(2) == m.weight.size(3)
        m.weight.data.fill_(0.0)
        if m.bias is not None:
            m.bias.data.fill_(0.0)
        mid = m.weight.size(2) // 2
        nn.init.orthogonal_(m.weight.data[:, :, mid, mid], nn.init.calculate_gain("relu"))


class SharedCNN(nn.Module):
    """/255, conv 9→32 stride 2, then 10× (ReLU, conv 32→32 stride 1); no padding, no final ReLU.

    Upstream's CenterCrop(84) is a no-op at 84×84 and crops 100×100 inputs (methods that render at
    100 and random-crop); it is kept for those."""

    def __init__(self, in_channels: int = 9, num_layers: int = 11, num_filters: int = 32):
        super().__init__()
        self.num_layers, self.num_filters = num_layers, num_filters
        layers: list[nn.Module] = [nn.Conv2d(in_channels, num_filters, 3, stride=2)]
        for _ in range(1, num_layers):
            # In place: a conv's backward needs its input, not its output, so the ReLU may overwrite
            # the conv output (one 30-40 MB activation fewer per layer at batch 192).
            layers += [nn.ReLU(inplace=True), nn.Conv2d(num_filters, num_filters, 3, stride=1)]
        self.layers = nn.Sequential(*layers)
        self.apply(weight_init)
        # Channels-last activations and weights: oneDNN's convolutions then run without reordering
        # to and from NCHW (on the 2-core reference CPU, forward + backward of the 11-layer trunk
        # at batch 192: 0.73 s against 1.15 s in float32, 0.36 s against 0.41 s under bf16 autocast).
        # Only memory strides change; the values are those of the NCHW computation.
        self.to(memory_format=torch.channels_last)

    def out_features(self, image_size: int) -> int:
        """Flattened output size for ``image_size`` inputs (after the crop of 100×100 ones)."""
        seen = 84 if image_size == 100 else image_size
        return trunk_features(self.num_layers, self.num_filters, seen)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if obs.shape[-1] == 100:
            obs = obs[..., 8:-8, 8:-8]
        return self.layers((obs / 255.0).contiguous(memory_format=torch.channels_last)).flatten(1)


class Projection(nn.Module):
    """Linear(14112→256), LayerNorm, tanh (upstream's RLProjection)."""

    def __init__(self, in_dim: int = FEATURES, out_dim: int = 256):
        super().__init__()
        self.out_dim = out_dim
        self.projection = nn.Sequential(nn.Linear(in_dim, out_dim), nn.LayerNorm(out_dim), nn.Tanh())
        self.apply(weight_init)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.projection(h)


class Encoder(nn.Module):
    """A conv trunk (possibly shared) and a projection."""

    def __init__(self, trunk: SharedCNN, projection: Projection):
        super().__init__()
        self.trunk, self.projection = trunk, projection
        self.out_dim = projection.out_dim

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.projection(self.trunk(obs))


def mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, out_dim))


class Actor(nn.Module):
    """Tanh-squashed Gaussian policy; log σ squashed into [log_std_min, log_std_max] = [−10, 2]."""

    def __init__(self, encoder: Encoder, action_dim: int, hidden_dim: int = 1024,
                 log_std_min: float = -10.0, log_std_max: float = 2.0):
        super().__init__()
        self.encoder = encoder
        self.log_std_min, self.log_std_max = log_std_min, log_std_max
        self.mlp = mlp(encoder.out_dim, hidden_dim, 2 * action_dim)
        self.mlp.apply(weight_init)

    def heads(self, z: torch.Tensor, compute_pi: bool = True, draw_noise=torch.randn_like):
        """Policy from an embedding: (tanh μ, tanh π, log π, log σ); ``draw_noise(μ)`` gives the ε of
        π = μ + ε·σ (injectable, so tests can feed recorded draws)."""
        mu, log_std = full_precision(self.mlp(z)).chunk(2, dim=-1)
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (torch.tanh(log_std) + 1)
        if not compute_pi:
            return torch.tanh(mu), None, None, log_std
        noise = draw_noise(mu)
        pi = mu + noise * log_std.exp()
        log_pi = (-0.5 * noise.pow(2) - log_std).sum(-1, keepdim=True) - 0.5 * math.log(2 * math.pi) * noise.size(-1)
        mu, pi = torch.tanh(mu), torch.tanh(pi)
        log_pi = log_pi - torch.log(F.relu(1 - pi.pow(2)) + 1e-6).sum(-1, keepdim=True)
        return mu, pi, log_pi, log_std

    def forward(self, obs: torch.Tensor, compute_pi: bool = True, draw_noise=torch.randn_like):
        return self.heads(self.encoder(obs), compute_pi, draw_noise)


class QFunction(nn.Module):
    def __init__(self, z_dim: int, action_dim: int, hidden_dim: int = 1024):
        super().__init__()
        self.trunk = mlp(z_dim + action_dim, hidden_dim, 1)
        self.apply(weight_init)

    def forward(self, z: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return full_precision(self.trunk(torch.cat([z, action], dim=1)))


class Critic(nn.Module):
    def __init__(self, encoder: Encoder, action_dim: int, hidden_dim: int = 1024):
        super().__init__()
        self.encoder = encoder
        self.Q1 = QFunction(encoder.out_dim, action_dim, hidden_dim)
        self.Q2 = QFunction(encoder.out_dim, action_dim, hidden_dim)

    def heads(self, z: torch.Tensor, action: torch.Tensor):
        return self.Q1(z, action), self.Q2(z, action)

    def forward(self, obs: torch.Tensor, action: torch.Tensor):
        return self.heads(self.encoder(obs), action)


class AuxHead(nn.Module):
    """Linear(256 → 3·256), reshape sample-major to one 256-d code per frame, ReLU."""

    def __init__(self, emb_dim: int = 256, frame_stack: int = 3):
        super().__init__()
        self.emb_dim = emb_dim
        self.proj = nn.Linear(emb_dim, emb_dim * frame_stack)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.relu(self.proj(z).view(-1, self.emb_dim))


class Decoder(nn.Module):
    """One frame per code: Linear(256→14112) → 32×21×21, ReLU, conv 32→128, ×2 up, ReLU, conv 128→64,
    ×2 up, ReLU, then the heads: image 64→3 (255·sigmoid) and, with ``mask=True``, mask 64→1 (sigmoid).

    The ×2-up-then-conv pairs run as :func:`smg_fast.ops.upsample_conv2d` (ReLU commutes with nearest
    upsampling, so it is applied before); the image and mask heads read the same input and run as one
    64→4 convolution. Parameters are laid out as upstream's (``conv3``/``conv4`` kept separate).
    ``fused=False`` runs the eager composition instead (the reference for tests and benchmarks)."""

    def __init__(self, emb_dim: int = 256, mask: bool = False, fused: bool = True):
        super().__init__()
        self.proj = nn.Linear(emb_dim, FEATURES)
        self.conv1 = nn.Conv2d(32, 128, 3, padding=1)
        self.conv2 = nn.Conv2d(128, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 3, 3, padding=1)
        self.conv4 = nn.Conv2d(64, 1, 3, padding=1) if mask else None
        self.upsample_conv2d = ops.implementation(fused).upsample_conv2d

    def _up_conv(self, x, weight, bias):
        return self.upsample_conv2d(x.contiguous(), weight, bias)

    def forward(self, codes: torch.Tensor, mask_only: bool = False):
        """codes [N, 256] → image [N, 3, 84, 84] (0-255) and, for the mask decoder, mask [N, 1, 84, 84].
        ``mask_only``: (None, mask), the image head skipped (the attribution mask needs no image)."""
        if mask_only and self.conv4 is None:
            raise ValueError("mask_only needs the decoder built with mask=True")
        # In-place ReLUs: the producers' backward passes need their inputs, not these outputs.
        x = F.relu(self.proj(codes).view(-1, 32, 21, 21), inplace=True)
        x = F.relu(self.conv1(x), inplace=True)
        x = F.relu(self._up_conv(x, self.conv2.weight, self.conv2.bias), inplace=True)
        # The heads' sigmoid and everything after it in float32 (under autocast the conv is bf16).
        if self.conv4 is None:
            return 255 * torch.sigmoid(full_precision(self._up_conv(x, self.conv3.weight, self.conv3.bias))), None
        if mask_only:
            return None, torch.sigmoid(full_precision(self._up_conv(x, self.conv4.weight, self.conv4.bias)))
        weight = torch.cat([self.conv3.weight, self.conv4.weight])
        bias = torch.cat([self.conv3.bias, self.conv4.bias])
        image, mask = torch.sigmoid(full_precision(self._up_conv(x, weight, bias))).split([3, 1], dim=1)
        return 255 * image, mask.contiguous()


class InverseDynamics(nn.Module):
    """MLP(512 → 1024 → 1024 → A) on the concatenated embeddings of obs and next obs."""

    def __init__(self, emb_dim: int, action_dim: int, hidden_dim: int = 1024):
        super().__init__()
        self.mlp = mlp(2 * emb_dim, hidden_dim, action_dim)
        self.apply(weight_init)

    def forward(self, z: torch.Tensor, z_next: torch.Tensor) -> torch.Tensor:
        return full_precision(self.mlp(torch.cat([z, z_next], dim=1)))


def frames_to_stack(x: torch.Tensor, frame_stack: int) -> torch.Tensor:
    """[B·k, C, H, W] (sample-major, one row per frame) → [B, k·C, H, W], a view."""
    n, c, h, w = x.shape
    return x.reshape(n // frame_stack, frame_stack * c, h, w)
