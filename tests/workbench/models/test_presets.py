import json

import pytest

from workbench.models.presets import PRESETS, preset_for
from workbench.training.config import TrainConfig, apply_preset, cpu_preset

EXPECTED = {
    # hub id: (parameters, chat template family, target modules)
    "HuggingFaceTB/SmolLM2-135M-Instruct": (134_515_008, "chatml", "all-linear"),
    "Qwen/Qwen2.5-0.5B-Instruct": (494_032_768, "chatml", "all-linear"),
    "Qwen/Qwen2.5-1.5B-Instruct": (1_543_714_304, "chatml", "all-linear"),
    "meta-llama/Llama-3.2-1B-Instruct": (1_235_814_400, "llama3", "all-linear"),
    "google/gemma-3-270m-it": (268_098_176, "gemma", "all-linear"),
    "TinyLlama/TinyLlama-1.1B-Chat-v1.0": (1_100_048_384, "zephyr", "q_proj,v_proj"),
}


def _llama_style_count(shape) -> int:
    """Embeddings + 7 linear layers and 2 norms per layer + final norm (Qwen2's q/k/v biases added)."""
    per_layer = sum(i * o for i, o in shape.linear_shapes().values()) + 2 * shape.hidden_size
    return shape.embedding_parameters + shape.num_layers * per_layer + shape.hidden_size


def test_presets_cover_the_common_small_bases():
    assert [p.name for p in PRESETS][0] == "demo"
    assert {p.hub_id for p in PRESETS if p.hub_id} == set(EXPECTED)
    for preset in PRESETS:
        if preset.hub_id:
            assert (preset.parameters, preset.chat_template_family, preset.target_modules) == EXPECTED[preset.hub_id]
        assert preset.shape.parameters == preset.parameters
        assert 256 <= preset.max_length <= 4096
        assert preset.licence and preset.notes
        # The preset's settings are valid training settings.
        apply_preset(TrainConfig(dataset="d", base_model=preset.hub_id or "demo"), preset).validate()


@pytest.mark.parametrize("preset", [p for p in PRESETS], ids=lambda p: p.name)
def test_preset_shapes_add_up_to_their_parameter_counts(preset):
    counted = _llama_style_count(preset.shape)
    if preset.name.startswith("Qwen"):  # q_proj, k_proj and v_proj have biases
        s = preset.shape
        counted += s.num_layers * (s.num_attention_heads + 2 * s.num_kv_heads) * s.attention_head_dim
    if preset.name.startswith("gemma"):  # two extra norms per layer plus q/k norms of head_dim
        s = preset.shape
        counted += s.num_layers * (2 * s.hidden_size + 2 * s.attention_head_dim)
    assert counted == preset.parameters


def test_gated_models_say_so():
    assert "gated" in preset_for("meta-llama/Llama-3.2-1B-Instruct").licence
    assert "HF_TOKEN" in preset_for("meta-llama/Llama-3.2-1B-Instruct").licence
    assert "gated" in preset_for("google/gemma-3-270m-it").licence
    assert "gated" not in preset_for("Qwen/Qwen2.5-0.5B-Instruct").licence


def test_preset_for_matches_names_ids_and_folders(tmp_path, workbench_home):
    assert preset_for("demo").hub_id is None
    assert preset_for("Qwen/Qwen2.5-0.5B-Instruct").name == "Qwen2.5-0.5B-Instruct"
    assert preset_for("qwen/qwen2.5-0.5b-instruct").name == "Qwen2.5-0.5B-Instruct"
    assert preset_for("SmolLM2-135M-Instruct").hub_id == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert preset_for(str(tmp_path / "models" / "TinyLlama-1.1B-Chat-v1.0") + "/").name == "TinyLlama-1.1B-Chat-v1.0"
    # A prepared model whose manifest names its source.
    prepared = workbench_home / "models" / "my-smol"
    prepared.mkdir(parents=True)
    (prepared / "manifest.json").write_text(json.dumps({"source": "HuggingFaceTB/SmolLM2-135M-Instruct"}))
    assert preset_for("my-smol").name == "SmolLM2-135M-Instruct"
    for unknown in ("", "   ", "mistralai/Mistral-7B-v0.1", "/tmp/some-model", "my-other"):
        assert preset_for(unknown) is None


def test_apply_preset_changes_only_target_modules_and_max_length():
    config = cpu_preset(TrainConfig(dataset="d", base_model="TinyLlama/TinyLlama-1.1B-Chat-v1.0", max_length=333))
    applied = apply_preset(config, preset_for(config.base_model))
    assert (applied.target_modules, applied.max_length) == ("q_proj,v_proj", 1024)
    assert applied.resolved_target_modules() == ["q_proj", "v_proj"]
    assert applied.with_updates(target_modules=config.target_modules, max_length=333) == config
