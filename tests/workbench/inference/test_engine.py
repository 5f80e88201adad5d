"""The inference engine on the tiny demo model: one base, adapters attached with PEFT, mixed batches."""

from __future__ import annotations

import gc
import json
import shutil
import warnings

import pytest
import torch

from workbench import paths, store
from workbench.inference import Engine, GenerationSettings, Side
from workbench.jobs import registry
from workbench.models.loading import ModelLoadError
from workbench.training.runs import adapter_choices

GREEDY = GenerationSettings(greedy=True, max_new_tokens=12, seed=7)
HELLO = [{"role": "user", "content": "Hola, ¿qué tal?"}]
REPORT = [{"role": "user", "content": "Resume el informe del proyecto en una frase."}]


def make_adapter(demo_model_dir, folder, seed: int, base_model: str = "demo"):
    """A LoRA adapter folder as the training worker writes one, with random (non-zero) lora_B weights."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(demo_model_dir, dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], task_type="CAUSAL_LM")
    with warnings.catch_warnings():  # peft calls a deprecated transformers alias
        warnings.simplefilter("ignore", FutureWarning)
        peft_model = get_peft_model(model, config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    peft_model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(demo_model_dir).save_pretrained(folder)
    (folder / "workbench_run.json").write_text(json.dumps({"run": folder.name, "base_model": base_model}))
    return folder


@pytest.fixture(scope="module")
def adapters(demo_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    return {name: make_adapter(demo_model_dir, root / name, seed) for name, seed in (("alpha", 1), ("beta", 2))}


def test_the_base_row_of_a_mixed_batch_equals_the_base_alone(adapters):
    alone = Engine("demo").generate([Side(None, HELLO), Side(None, REPORT)], GREEDY)
    engine = Engine("demo")
    engine.attach(adapters["alpha"])
    mixed = engine.generate([Side(None, HELLO), Side("alpha", REPORT)], GREEDY)
    assert mixed[0].text == alone[0].text and mixed[0].tokens == alone[0].tokens
    # A single unpadded row gives the same text as the padded batch.
    single = engine.generate([Side(None, HELLO)], GREEDY)
    assert single[0].text == alone[0].text


def test_the_adapter_row_differs_from_the_base_row(adapters):
    engine = Engine("demo")
    engine.attach(adapters["alpha"])
    base, tuned = engine.generate([Side(None, HELLO), Side("alpha", HELLO)], GREEDY)
    assert base.text != tuned.text
    # The adapter row of the mixed batch is the adapter alone.
    alone = engine.generate([Side("alpha", HELLO)], GREEDY)
    assert alone[0].text == tuned.text


def test_stream_interleaves_sides_and_deltas_join_to_the_results(adapters):
    engine = Engine("demo")
    engine.attach(adapters["alpha"])
    sides = [Side(None, HELLO), Side("alpha", HELLO)]
    settings = GenerationSettings(temperature=1.0, top_p=1.0, max_new_tokens=16, seed=3)
    events = list(engine.stream(sides, settings))
    order = [index for index, _ in events]
    assert set(order) == {0, 1}
    assert order.index(1) < len(order) - 1 - order[::-1].index(0)  # side 1 speaks before side 0 is done
    assert len(engine.last_results) == 2
    for index, result in enumerate(engine.last_results):
        assert "".join(delta for i, delta in events if i == index) == result.text
    again = engine.generate(sides, settings)
    assert [r.text for r in again] == [r.text for r in engine.last_results]


def test_adapters_share_the_one_base(adapters):
    from transformers import LlamaForCausalLM

    def llamas():
        gc.collect()
        return sum(1 for o in gc.get_objects() if type(o) is LlamaForCausalLM)

    engine = Engine("demo")
    base = engine.model
    embedding = base.get_input_embeddings().weight
    before = llamas()
    assert engine.attach(adapters["alpha"]) == "alpha"
    assert engine.attach(adapters["alpha"]) == "alpha"
    assert engine.adapters() == ["alpha"]
    assert engine.attach(adapters["beta"], name="beta.v2") == "beta.v2"  # '.' is fine in a name
    assert engine.adapters() == ["alpha", "beta.v2"]
    assert engine.base_model is base
    assert engine.model.get_input_embeddings().weight is embedding
    assert llamas() == before  # no second copy of the base was loaded
    results = engine.generate([Side(None, HELLO), Side("alpha", HELLO), Side("beta.v2", HELLO)], GREEDY)
    assert len({r.text for r in results}) == 3
    assert len(engine.last_results) == 3


def test_use_runs_the_model_as_the_base_or_with_one_adapter(adapters):
    plain = Engine("demo")
    ids = plain.tokenizer(plain.render_prompt(None, HELLO), return_tensors="pt", add_special_tokens=False)
    ids = ids.to(plain.model.device)
    with torch.no_grad(), plain.use(None) as model:
        base_logits = model(**ids).logits
    engine = Engine("demo")
    engine.attach(adapters["alpha"], "alpha.1")
    engine.attach(adapters["beta"])
    with torch.no_grad():
        with engine.use(None) as model:
            assert torch.allclose(model(**ids).logits, base_logits, atol=1e-5)
        with engine.use("alpha.1") as model:
            alpha_logits = model(**ids).logits
        with engine.use("beta") as model:
            beta_logits = model(**ids).logits
    assert not torch.allclose(alpha_logits, base_logits, atol=1e-3)
    assert not torch.allclose(alpha_logits, beta_logits, atol=1e-3)
    assert not any(p.requires_grad for p in engine.model.parameters())


def test_results_carry_timings(adapters):
    engine = Engine("demo")
    engine.attach(adapters["alpha"])
    results = engine.generate([Side(None, HELLO), Side("alpha", REPORT)], GREEDY)
    assert len(results) == 2
    for result in results:
        assert result.tokens > 0 and result.time_to_first_token_s > 0 and result.tokens_per_second > 0
        assert result.total_s >= result.time_to_first_token_s


def test_max_new_tokens_is_respected():
    engine = Engine("demo")
    settings = GenerationSettings(greedy=True, max_new_tokens=3)
    results = engine.generate([Side(None, HELLO), Side(None, REPORT)], settings)
    assert len(results) == 2
    for result in results:
        assert 0 < result.tokens <= 3


def test_a_side_stops_at_its_end_of_turn_token_while_the_other_goes_on():
    engine = Engine("demo")
    im_end = engine.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert im_end in engine.stop_token_ids()
    # Make <|im_end|> the only possible next token for row 0 by banning every other token there.
    from transformers import LogitsProcessor, LogitsProcessorList

    class EndRowZero(LogitsProcessor):
        def __call__(self, input_ids, scores):
            scores[0, :] = -float("inf")
            scores[0, im_end] = 0.0
            return scores

    engine_generate = engine.model.generate
    engine.model.generate = lambda **kw: engine_generate(**kw, logits_processor=LogitsProcessorList([EndRowZero()]))
    stopped, going = engine.generate(
        [Side(None, HELLO), Side(None, REPORT)], GenerationSettings(greedy=True, max_new_tokens=5)
    )
    assert (stopped.text, stopped.tokens, stopped.stopped) == ("", 1, "eos")
    assert going.tokens == 5 and going.stopped == "length" and going.text


def test_render_prompt_uses_the_adapters_template_and_the_system_prompt(adapters, tmp_path):
    folder = shutil.copytree(adapters["alpha"], tmp_path / "custom")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["chat_template"] = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}[assistant] "
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    engine = Engine("demo")
    engine.attach(folder)
    assert (
        engine.render_prompt("custom", HELLO, "Sé breve.") == "[system] Sé breve.\n[user] Hola, ¿qué tal?\n[assistant] "
    )
    base = engine.render_prompt(None, HELLO, "Sé breve.")
    assert base.startswith("<|im_start|>system\nSé breve.<|im_end|>") and base.endswith("<|im_start|>assistant\n")
    with_system = [{"role": "system", "content": "Eres un asistente."}, *HELLO]
    assert "Sé breve." not in engine.render_prompt(None, with_system, "Sé breve.")
    results = engine.generate([Side(None, HELLO), Side("custom", HELLO)], GREEDY)
    assert len(results) == 2


def test_attach_refuses_an_adapter_of_another_base_and_unknown_names(demo_model_dir, adapters, tmp_path):
    other = shutil.copytree(adapters["alpha"], tmp_path / "other")
    (other / "workbench_run.json").write_text(json.dumps({"base_model": "Qwen/Qwen2.5-0.5B-Instruct"}))
    engine = Engine("demo")
    with pytest.raises(ValueError, match="Qwen/Qwen2.5-0.5B-Instruct"):
        engine.attach(other)
    with pytest.raises(ValueError, match="not an adapter folder"):
        engine.attach(tmp_path)
    with pytest.raises(ValueError, match="not attached"):
        engine.generate([Side("nope", HELLO)], GREEDY)
    # The base given as a folder path accepts an adapter trained on "demo".
    assert Engine(str(demo_model_dir)).attach(adapters["alpha"]) == "alpha"


def test_4bit_without_cuda_says_it_needs_cuda():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ModelLoadError, match="CUDA"):
        Engine("demo", quantization="4bit")


def test_closing_the_stream_early_stops_generation():
    engine = Engine("demo")
    stream = engine.stream([Side(None, HELLO)], GenerationSettings(greedy=True, max_new_tokens=200))
    next(stream)
    stream.close()
    assert engine.last_results[0].stopped == "cancelled" and engine.last_results[0].tokens < 200
    assert engine.generate([Side(None, HELLO)], GREEDY)[0].tokens > 0  # the lock was released


def test_unload_drops_the_model():
    engine = Engine("demo")
    engine.unload()
    assert engine.model is None and engine.adapters() == []


def test_adapter_choices_lists_finished_runs_with_an_adapter(adapters):
    db = store.open_db()

    def add(name, status, folder=True, base="demo"):
        if folder:
            shutil.copytree(adapters["alpha"], paths.adapters_dir() / name)
        run_id = (
            db["runs"]
            .insert(
                {
                    "name": name,
                    "config_json": "{}",
                    "base_model": base,
                    "adapter_dir": f"adapters/{name}",
                    "created": store.now(),
                }
            )
            .last_pk
        )
        registry.finish(registry.create("train", f"Train {name}", run_id=run_id), status)
        return run_id

    done = add("done", "completed")
    add("broken", "failed")
    add("gone", "completed", folder=False)
    stopped = add("stopped", "cancelled")
    other = add("qwen", "completed", base="Qwen/Qwen2.5-0.5B-Instruct")
    choices = adapter_choices()
    assert [c["run_id"] for c in choices] == [other, stopped, done]
    first = choices[-1]
    assert first["name"] == "done" and first["status"] == "completed" and first["base_model"] == "demo"
    assert first["adapter_dir"] == str(paths.adapters_dir() / "done")
    assert [c["name"] for c in adapter_choices("demo")] == ["stopped", "done"]
    engine = Engine("demo")
    assert engine.attach(first["adapter_dir"], first["name"]) == "done"
