"""One loaded base model with LoRA adapters attached, and batched streaming generation over "sides".

The Compare page and the evaluation worker ask the same question: what does the base answer, and what
does each adapter answer, to the same conversation? An `Engine` loads the base once per (base,
quantization) and attaches every adapter to that one model with PEFT, so base and adapters share the
base weights in memory: an adapter costs only its few LoRA matrices.

All sides are generated in ONE batched `model.generate` call with PEFT's mixed-adapter batches: the
`adapter_names` keyword (peft/tuners/lora/model.py `_enable_peft_forward_hooks`) gives each batch row its
adapter, "__base__" meaning "no adapter" for that row; every LoRA layer then adds each adapter's update only
to its own rows (`LoraLayer._mixed_batch_forward`). So the base row of a mixed batch computes exactly what
the base alone computes, while the adapter rows see their adapter. The constraints (checked by PEFT): the
model must be in eval mode, no adapter merged, no DoRA; beam search would repeat the names per beam.

Prompts: each side's conversation is rendered with that side's tokenizer (the one saved in the adapter
folder: the exact chat template used in training), then tokenized with the base tokenizer. The adapter
tokenizers are copies of the base's with, at most, another chat template, so they share the vocabulary;
one tokenizer for the batch gives one pad token and one left-padding rule. Left padding, because the
prompts differ in length and generation appends on the right.

Streaming: a `BaseStreamer` receives each step's new token ids for the whole batch; a background thread
runs `generate`, and `Engine.stream` decodes each side incrementally (the side's ids so far, decoded
whole, minus what was already emitted, so multi-byte characters come out whole) and yields
(side index, text delta) as the tokens arrive, for all sides at once. A side stops at its end-of-turn
token (eos ids from the generation config and the tokenizers, e.g. <|im_end|>) while the others go on.

Thread safety: one generation at a time per engine (a lock); a second caller waits. Attaching an adapter
also takes the lock, so it never changes the model under a running generation.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import json
import queue
import re
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import paths
from workbench.models.loading import (
    ModelLoadError,
    check_adapter_files,
    import_model_libraries,
    is_local,
    load_tokenizer,
    resolve_base,
    same_last_part,
    stop_token_ids,
)

LOAD_QUANTIZATIONS = ("none", "4bit")
BASE_ADAPTER = "__base__"  # PEFT's name for "no adapter" in a mixed-adapter batch
ADAPTER_CONFIG = "adapter_config.json"
QUANTIZATION_NEEDS_CUDA = (
    "4-bit quantization needs a CUDA GPU: bitsandbytes' NF4 kernels do not run here. "
    "Choose quantization 'none' on this machine."
)


@dataclass
class GenerationSettings:
    """How to sample. The same settings and seed on the same sides give the same text."""

    system_prompt: str = ""
    """Prepended as a system message when non-empty and the conversation has none."""
    temperature: float = 0.7
    """Softmax temperature for sampling; 0 or less means greedy."""
    top_p: float = 0.9
    """Nucleus sampling: keep the smallest set of tokens whose probabilities add up to top_p."""
    max_new_tokens: int = 256
    """The most tokens each side may generate (the end-of-turn token included)."""
    repetition_penalty: float = 1.0
    """Above 1 discourages tokens already in the prompt or the answer (1 = off)."""
    seed: int = 0
    """torch.manual_seed before generating. Sampled text depends on the whole batch, not one side alone."""
    greedy: bool = False
    """Always take the most likely token (temperature and top_p are ignored)."""


@dataclass
class Side:
    """One column of a comparison: which model answers, and the conversation it answers."""

    adapter: str | None
    """None: the base with adapters disabled for this row; else the name of an attached adapter."""
    messages: list[dict]
    """The conversation so far for this side ({"role", "content"} dicts), ending with the user turn."""


@dataclass
class GenerationResult:
    text: str
    tokens: int
    """Tokens generated for this side (its end-of-turn token included, when it emitted one)."""
    time_to_first_token_s: float
    """From the start of the call (rendering and tokenizing included) to this side's first token."""
    tokens_per_second: float
    """tokens / total_s."""
    total_s: float
    """From the start of the call to this side's last token."""
    stopped: str = "length"
    """Why the side stopped: 'eos' (end-of-turn token), 'length' (max_new_tokens) or 'cancelled'."""


@dataclass
class _SideState:
    tokenizer: Any  # a transformers tokenizer
    ids: list[int] = field(default_factory=list)
    decoded: str = ""  # the side's ids decoded, as of the last delta
    emitted: str = ""  # every delta yielded so far, joined
    tokens: int = 0
    first: float | None = None
    last: float | None = None
    done: bool = False
    stopped: str = "length"


class _BatchStreamer:
    """transformers streamer: each put() after the first (the prompt) is one step's ids for the batch."""

    def __init__(self, out: queue.Queue):
        self.out = out
        self.prompt_seen = False

    def put(self, value) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        ids = value.reshape(value.shape[0], -1)[:, -1] if value.dim() > 1 else value
        self.out.put(("tokens", ids.tolist(), time.perf_counter()))

    def end(self) -> None:
        pass


class Engine:
    """One base model loaded once, with any number of LoRA adapters attached to it."""

    def __init__(self, base: str, quantization: str = "none", trust_remote_code: bool = False):
        if quantization not in LOAD_QUANTIZATIONS:
            raise ModelLoadError(f"Unknown quantization {quantization!r}: use one of {', '.join(LOAD_QUANTIZATIONS)}.")
        import_model_libraries()
        import torch

        if quantization == "4bit" and not torch.cuda.is_available():
            raise ModelLoadError(QUANTIZATION_NEEDS_CUDA)
        self.base = str(base)
        self.quantization = quantization
        self.trust_remote_code = bool(trust_remote_code)
        self.resolved = resolve_base(self.base)
        # A private copy: the cached base tokenizer is shared, and this one gets left padding and a pad token.
        self.tokenizer = copy.deepcopy(load_tokenizer(self.base, trust_remote_code=self.trust_remote_code))
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            # Padded positions are masked out of attention, so reusing eos (or unk) is safe.
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.model = self._load_model(torch)
        self.last_results: list[GenerationResult] = []
        self._adapters: dict[str, dict] = {}  # public name -> {"peft_name", "dir", "tokenizer"}
        self._lock = threading.Lock()

    # --- loading -------------------------------------------------------------------------------------

    def _load_model(self, torch):
        from transformers import AutoModelForCausalLM

        cuda = torch.cuda.is_available()
        dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.float32
        kwargs = {"dtype": dtype, "trust_remote_code": self.trust_remote_code, "use_safetensors": True}
        if self.quantization == "4bit":
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=dtype,
            )
        if cuda:
            kwargs["device_map"] = {"": 0}
        try:
            model = AutoModelForCausalLM.from_pretrained(self.resolved, **kwargs)
        except torch.cuda.OutOfMemoryError:
            raise
        except (OSError, ValueError, ImportError, KeyError) as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            where = f"the folder {self.resolved}" if is_local(self.resolved) else repr(self.resolved)
            raise ModelLoadError(
                f"The model weights of {where} cannot be loaded ({type(exc).__name__}: {detail}). "
                "Check that the folder holds config.json and the *.safetensors weights; models "
                "with custom code need 'trust remote code'."
            ) from exc
        model.eval()
        model.config.use_cache = True
        if len(self.tokenizer) > model.get_input_embeddings().weight.shape[0]:
            raise ModelLoadError(
                f"The tokenizer of {self.base!r} has more tokens ({len(self.tokenizer)}) than the "
                "model's embedding table: they do not belong together."
            )
        return model

    @property
    def base_model(self):
        """The transformers model under the adapters (the one set of base weights)."""
        from peft import PeftModel

        return self.model.get_base_model() if isinstance(self.model, PeftModel) else self.model

    @property
    def device(self):
        return self.base_model.get_input_embeddings().weight.device

    def attach(self, adapter_dir: str | Path, name: str | None = None) -> str:
        """Load the LoRA adapter in `adapter_dir` onto the base; returns its name (default: the folder name).

        Attaching a name again does nothing. Raises ValueError for a folder that is not a LoRA adapter of
        this base.
        """
        folder = Path(adapter_dir).expanduser()
        if not folder.is_absolute():
            folder = paths.in_home(folder) if paths.in_home(folder).is_dir() else folder.resolve()
        name = str(name or folder.name).strip()
        if not name or name == BASE_ADAPTER:
            raise ValueError(f"{name!r} cannot name an adapter: pick another name.")
        with self._lock:
            if name in self._adapters:
                return name
            config = self._check_adapter(folder)
            if config.get("use_dora"):
                raise ValueError(
                    f"The adapter in {folder} uses DoRA, which PEFT cannot mix with other adapters in "
                    "one batch: compare it on its own, or train it as plain LoRA."
                )
            from peft import PeftModel

            peft_name = self._peft_name(name)
            try:
                with warnings.catch_warnings():
                    # peft calls transformers' deprecated is_gradient_checkpointing: nothing to act on here
                    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
                    if isinstance(self.model, PeftModel):
                        self.model.load_adapter(str(folder), adapter_name=peft_name, is_trainable=False)
                    else:
                        self.model = PeftModel.from_pretrained(
                            self.model, str(folder), adapter_name=peft_name, is_trainable=False
                        )
            except (RuntimeError, ValueError, KeyError, OSError) as exc:
                detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ValueError(
                    f"The adapter in {folder} cannot be loaded onto {self.base!r} ({type(exc).__name__}: {detail})."
                ) from exc
            self.model.eval()
            self._adapters[name] = {"peft_name": peft_name, "dir": folder, "tokenizer": None}
            return name

    def _peft_name(self, name: str) -> str:
        # PEFT keeps adapters in nn.ModuleDicts, whose keys cannot hold '.'; run names can.
        candidate = re.sub(r"[^A-Za-z0-9_-]", "_", name)
        taken = {entry["peft_name"] for entry in self._adapters.values()}
        unique, n = candidate, 2
        while unique in taken or unique == BASE_ADAPTER:
            unique, n = f"{candidate}_{n}", n + 1
        return unique

    def _check_adapter(self, folder: Path) -> dict:
        """The adapter's config, after checking it is a LoRA adapter trained on this engine's base."""
        try:
            config = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"{folder} is not an adapter folder: it holds no readable {ADAPTER_CONFIG}. Pick an "
                "adapter saved by a training run (adapters/<run>/)."
            ) from exc
        try:
            check_adapter_files(folder)
        except ModelLoadError as exc:
            raise ValueError(str(exc)) from exc
        if str(config.get("peft_type", "LORA")).upper() != "LORA":
            raise ValueError(
                f"The adapter in {folder} is a {config.get('peft_type')} adapter; only LoRA adapters "
                "can be compared here."
            )
        run = {}
        with contextlib.suppress(OSError, ValueError):
            run = json.loads((folder / paths.RUN_FILE).read_text(encoding="utf-8"))
        run = run if isinstance(run, dict) else {}
        claimed = [str(value) for value in (run.get("base_model"), run.get("base_model_path")) if value]
        if not claimed and config.get("base_model_name_or_path"):
            claimed = [config["base_model_name_or_path"]]
        if claimed and not any(self._same_base(value) for value in claimed):
            raise ValueError(
                f"The adapter in {folder} was trained on {claimed[0]!r}, not on this engine's base "
                f"{self.base!r}: load an engine for that base to use it."
            )
        return config

    def _same_base(self, other: str) -> bool:
        """Whether `other` (a name, a folder or a hub id) plausibly names this engine's base."""
        mine = {self.base, self.resolved, str(getattr(self.base_model.config, "_name_or_path", "") or "")}
        mine.discard("")
        other = str(other).strip()
        if other in mine:
            return True
        with contextlib.suppress(ModelLoadError, OSError):
            theirs = resolve_base(other)
            if is_local(theirs) and is_local(self.resolved) and Path(theirs).resolve() == Path(self.resolved).resolve():
                return True
        return same_last_part(other, mine)

    @contextlib.contextmanager
    def use(self, adapter: str | None):
        """`with engine.use(name) as model:` run the model yourself (a loss, a forward pass) as the base
        (None: adapters disabled) or with one adapter active; under the engine's lock, restored afterwards.
        Adapter names are public names; PEFT's own may differ (PEFT cannot hold '.' in a name)."""
        from peft import PeftModel

        with self._lock:
            peft_name = None if adapter is None else self._entry(adapter)["peft_name"]
            if not isinstance(self.model, PeftModel):
                yield self.model
            elif peft_name is None:
                with self.model.disable_adapter():
                    yield self.model
            else:
                previous = self.model.active_adapter
                self.model.set_adapter(peft_name, inference_mode=True)
                try:
                    yield self.model
                finally:
                    self.model.set_adapter(previous, inference_mode=True)

    def adapters(self) -> list[str]:
        return list(self._adapters)

    def tokenizer_for(self, adapter: str | None):
        """The tokenizer saved with `adapter` (its training chat template), or the base tokenizer for None.

        Adapter tokenizers come from `load_tokenizer`'s shared cache: never change them.
        """
        if adapter is None:
            return self.tokenizer
        entry = self._entry(adapter)
        if entry["tokenizer"] is None:
            try:
                entry["tokenizer"] = load_tokenizer(str(entry["dir"]), trust_remote_code=self.trust_remote_code)
            except ModelLoadError:
                entry["tokenizer"] = self.tokenizer  # an adapter saved without tokenizer files: the base's
        return entry["tokenizer"]

    def peft_name(self, adapter: str) -> str:
        """The name PEFT keeps `adapter` under (run names may hold characters its module names cannot)."""
        return self._entry(adapter)["peft_name"]

    def _entry(self, adapter: str) -> dict:
        if adapter not in self._adapters:
            attached = ", ".join(self._adapters) or "none"
            raise ValueError(
                f"Adapter {adapter!r} is not attached to this engine (attached: {attached}). "
                "Call attach() with its folder first."
            )
        return self._adapters[adapter]

    def render_prompt(self, adapter: str | None, messages: list[dict], system_prompt: str = "") -> str:
        """The prompt text for `messages` in the chat template of `adapter` (or of the base)."""
        conversation = [{"role": m["role"], "content": m["content"]} for m in messages]
        if system_prompt.strip() and not any(m["role"] == "system" for m in conversation):
            conversation.insert(0, {"role": "system", "content": system_prompt})
        return self.tokenizer_for(adapter).apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)

    def stop_token_ids(self, adapters: list[str | None] | None = None) -> list[int]:
        """Ids that end a side: the generation config's eos, and each tokenizer's eos and end-of-turn token."""
        tokenizers = {id(t): t for t in [self.tokenizer, *(self.tokenizer_for(a) for a in adapters or [])]}
        ids = set(stop_token_ids(self.tokenizer, self.base_model.generation_config))
        for tokenizer in tokenizers.values():
            ids |= stop_token_ids(tokenizer)
        return sorted(ids)

    # --- generation ----------------------------------------------------------------------------------

    def stream(self, sides: list[Side], settings: GenerationSettings) -> Iterator[tuple[int, str]]:
        """Yield (side index, text delta) for all sides at once as the tokens arrive.

        When it ends, `self.last_results` holds one GenerationResult per side. Closing the generator early
        stops the generation (the results then say 'cancelled' for sides still going). The engine's lock is
        held until the stream ends or is closed: consume it (or close it), and do not call `use()` inside it.
        """
        if not sides:
            self.last_results = []
            return
        if self.model is None:
            raise RuntimeError("This engine was unloaded: create a new Engine to generate again.")
        import torch
        from peft import PeftModel
        from transformers import StoppingCriteria, StoppingCriteriaList

        start = time.perf_counter()
        with self._lock:
            prompts = [self.render_prompt(side.adapter, side.messages, settings.system_prompt) for side in sides]
            names = [BASE_ADAPTER if side.adapter is None else self._entry(side.adapter)["peft_name"] for side in sides]
            stops = set(self.stop_token_ids([side.adapter for side in sides]))
            # The template already holds any BOS/special tokens it wants: add none.
            batch = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
            batch = {key: value.to(self.device) for key, value in batch.items()}
            cancel = threading.Event()

            class _Cancel(StoppingCriteria):
                def __call__(self, input_ids, scores, **kwargs):
                    return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool, device=input_ids.device)

            events: queue.Queue = queue.Queue()
            kwargs = {
                **batch,
                "max_new_tokens": max(1, int(settings.max_new_tokens)),
                "eos_token_id": sorted(stops),
                "pad_token_id": self.tokenizer.pad_token_id,
                "repetition_penalty": float(settings.repetition_penalty),
                "streamer": _BatchStreamer(events),
                "stopping_criteria": StoppingCriteriaList([_Cancel()]),
            }
            if settings.greedy or settings.temperature <= 0:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            else:
                kwargs.update(do_sample=True, temperature=float(settings.temperature), top_p=float(settings.top_p))
            if isinstance(self.model, PeftModel):
                kwargs["adapter_names"] = names  # one adapter per batch row; "__base__" = none
            model = self.model

            def work():
                try:
                    torch.manual_seed(int(settings.seed))
                    with torch.inference_mode():
                        model.generate(**kwargs)
                    events.put(("end", None, time.perf_counter()))
                except BaseException as exc:  # handed to the consumer, which raises it
                    events.put(("error", exc, time.perf_counter()))

            states = [_SideState(tokenizer=self.tokenizer) for _ in sides]
            thread = threading.Thread(target=work, name="workbench-generate", daemon=True)
            thread.start()
            finished = False
            try:
                while True:
                    kind, payload, stamp = events.get()
                    if kind == "error":
                        raise payload
                    if kind == "end":
                        finished = True
                        break
                    for index, token in enumerate(payload):
                        delta = self._advance(states[index], token, stamp, stops)
                        if delta:
                            yield index, delta
                for index, state in enumerate(states):
                    tail = self._flush(state)
                    if tail:
                        yield index, tail
            finally:
                cancel.set()
                thread.join()
                for state in states:
                    if not state.done and not finished:
                        state.stopped = "cancelled"
                end = time.perf_counter()
                self.last_results = [self._result(state, start, end) for state in states]

    def generate(self, sides: list[Side], settings: GenerationSettings) -> list[GenerationResult]:
        for _ in self.stream(sides, settings):
            pass
        return self.last_results

    @staticmethod
    def _advance(state: _SideState, token: int, stamp: float, stops: set[int]) -> str:
        if state.done:
            return ""  # a finished side gets pad tokens while the others go on
        state.tokens += 1
        state.first = stamp if state.first is None else state.first
        state.last = stamp
        if token in stops:
            state.done, state.stopped = True, "eos"
            return ""
        state.ids.append(token)
        text = state.tokenizer.decode(state.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            return ""  # the middle of a multi-byte character: wait for its other bytes
        return Engine._emit(state, text)

    @staticmethod
    def _emit(state: _SideState, text: str) -> str:
        # Byte-level BPE decodes are prefix-stable; should a decode ever rewrite earlier text, the old part
        # has been shown already, so only what lies past it is emitted.
        delta = text[len(state.decoded) :]
        state.decoded = text
        state.emitted += delta
        return delta

    @staticmethod
    def _flush(state: _SideState) -> str:
        if not state.ids:
            return ""
        return Engine._emit(state, state.tokenizer.decode(state.ids, skip_special_tokens=True))

    @staticmethod
    def _result(state: _SideState, start: float, end: float) -> GenerationResult:
        last = state.last if state.last is not None else end
        total = max(last - start, 1e-9)
        first = (state.first - start) if state.first is not None else 0.0
        return GenerationResult(
            text=state.emitted,
            tokens=state.tokens,
            time_to_first_token_s=first,
            tokens_per_second=state.tokens / total if state.tokens else 0.0,
            total_s=total,
            stopped=state.stopped,
        )

    def unload(self) -> None:
        """Drop the model (and the adapters with it) and give the memory back."""
        with self._lock:
            self.model = None
            self._adapters.clear()
            gc.collect()
            try:
                import torch

                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            except ImportError:
                pass
