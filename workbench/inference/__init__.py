"""One loaded base with LoRA adapters attached; batched streaming generation (see engine.py)."""

from workbench.inference.engine import (
    Engine,
    GenerationResult,
    GenerationSettings,
    Side,
)

__all__ = ["Engine", "GenerationResult", "GenerationSettings", "Side"]
