"""smg-fast: fast, faithful SMG (NeurIPS 2024) and DMC-GB baselines on today's PyTorch stack."""

__version__ = "0.1.0"
