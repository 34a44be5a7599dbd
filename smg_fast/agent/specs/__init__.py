"""Each method's declaration, one module per method (:class:`smg_fast.agent.method.Method`): its settings with
their rules, frames, ablation losses and capabilities. Light: no torch; the update itself is
``smg_fast/agent/<name>.py``."""
