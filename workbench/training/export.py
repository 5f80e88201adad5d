"""Training settings as files: the workbench's own YAML and an Axolotl config (a cluster job is a folder:
training/cluster.py).

- `config_to_yaml` / `config_from_yaml`: every TrainConfig field, each under a comment with its help
  text; reading back gives an equal TrainConfig. Unknown keys and wrong types are ConfigErrors that name
  the file and the key. Values are not range-checked here: `TrainConfig.validate()` does that, after
  the CLI's `--set` overrides are applied.
- `to_axolotl_yaml`: the same recipe as an Axolotl config (the seeds' format), for training elsewhere.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import fields

import yaml

from workbench.training import rewards
from workbench.training.config import ConfigError, TrainConfig

HEADER = (
    "# LoRA Workbench training config. Load it on the Train page (Config files) or with\n"
    "#   python -m workbench train --config FILE [--set key=value ...]\n"
)

_TYPE_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}


def config_to_yaml(config: TrainConfig) -> str:
    """The config as YAML, one `key: value` per field in dataclass order, each after its help text."""
    parts = [HEADER]
    for f in fields(TrainConfig):
        parts.append(f"\n# {f.metadata['help']}\n")
        parts.append(
            yaml.safe_dump(
                {f.name: getattr(config, f.name)},
                allow_unicode=True,
                sort_keys=False,
                default_flow_style=False,
                width=100,
            )
        )
    return "".join(parts)


def config_from_yaml(text: str, source: str = "config.yaml") -> TrainConfig:
    """A TrainConfig from YAML (settings not in the file keep their defaults); ConfigError naming the
    file and each bad key otherwise."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError([f"{where}: not valid YAML ({problem})."]) from exc
    if data is None:
        raise ConfigError([f"{source}: empty — expected settings such as 'lora_r: 8', one per line."])
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{source}: expected settings as 'key: value' lines, got {type(data).__name__} {_short(data)}."]
        )
    hints = typing.get_type_hints(TrainConfig)
    values, problems = {}, []
    for key, value in data.items():
        if not isinstance(key, str) or key not in hints:
            close = difflib.get_close_matches(str(key), list(hints), n=1)
            hint = f" — did you mean {close[0]!r}?" if close else f" (known: {', '.join(hints)})"
            problems.append(f"{source}: {key}: unknown setting{hint}")
            continue
        converted, error = _convert(value, hints[key])
        if error:
            problems.append(f"{source}: {key}: {error}")
        else:
            values[key] = converted
    if problems:
        raise ConfigError(problems)
    return TrainConfig(**values)  # type: ignore[arg-type]  # each value was converted to its field's type


def _convert(value, hint) -> tuple[object, str | None]:
    """(value as the field's type, None) or (None, what is wrong). Ints are accepted for floats, and
    text like '2e-4' too (YAML 1.1 reads an exponent without a dot as text)."""
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None:
        return (None, None) if type(None) in allowed else (None, f"is empty — expected {_expected(allowed)}.")
    for kind in allowed:
        if kind is bool and isinstance(value, bool):
            return value, None
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value, None
        if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value), None
        if kind is float and isinstance(value, str):
            try:
                return float(value), None
            except ValueError:
                pass
        if kind is str and isinstance(value, str):
            return value, None
    quote = " (put text in quotes)" if str in allowed else ""
    return None, f"expected {_expected(allowed)}, got {_short(value)} ({type(value).__name__}){quote}."


def _expected(allowed) -> str:
    names = [_TYPE_NAMES[kind] for kind in allowed if kind in _TYPE_NAMES]
    return " or ".join(names) + (" (or empty)" if type(None) in allowed else "")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- Axolotl -------------------------------------------------------------------------------------------


def to_axolotl_yaml(config: TrainConfig, dataset_path: str, base_model_id: str) -> str:
    """The config as an Axolotl YAML (`accelerate launch -m axolotl.cli.train axolotl.yaml`).

    `dataset_path` must be a JSONL file of chat rows ({"messages": [{"role", "content"}, ...]}):
    the dataset type is Axolotl's chat_template with field_messages: messages.
    """
    qlora = config.method == "qlora"
    targets = config.resolved_target_modules()
    out: dict = {
        "base_model": base_model_id,
        "load_in_8bit": False,
        "load_in_4bit": qlora,
        "strict": False,
        "chat_template": "chatml" if config.chat_template == "chatml" else "tokenizer_default",
        "datasets": [_axolotl_dataset(config, dataset_path)],
        "dataset_prepared_path": "last_run_prepared",
        "val_set_size": 0,
        "output_dir": "./lora-output",
        "adapter": "qlora" if qlora else "lora",
        "lora_r": config.lora_r,
        "lora_alpha": config.lora_alpha,
        "lora_dropout": config.lora_dropout,
    }
    if targets == "all-linear":
        out["lora_target_linear"] = True
    else:
        out["lora_target_modules"] = list(targets)
    out.update(
        {
            "sequence_len": config.max_length,
            "sample_packing": config.packing,
            "pad_to_sequence_len": config.packing,
            "micro_batch_size": config.per_device_batch_size,
            "gradient_accumulation_steps": config.gradient_accumulation_steps,
            "num_epochs": config.num_epochs,
        }
    )
    if config.max_steps > 0:
        out["max_steps"] = config.max_steps
    out.update(_axolotl_rl(config))
    optimizer = config.optimizer
    if optimizer == "auto":
        optimizer = "paged_adamw_8bit" if qlora else "adamw_torch"
    out.update({"optimizer": optimizer, "lr_scheduler": config.lr_scheduler, "learning_rate": config.learning_rate})
    if config.warmup < 1:
        out["warmup_ratio"] = config.warmup
    else:
        out["warmup_steps"] = int(config.warmup)
    out.update(
        {
            "weight_decay": config.weight_decay,
            "train_on_inputs": config.train_on_inputs,
            **_precision(config.precision),
            "gradient_checkpointing": config.gradient_checkpointing,
            "logging_steps": config.logging_steps,
        }
    )
    if config.save_steps > 0:
        out["save_steps"] = config.save_steps
    else:
        out["saves_per_epoch"] = 1
    out["seed"] = config.seed
    if config.trust_remote_code:
        out["trust_remote_code"] = True

    header = [
        f"# Axolotl config exported by LoRA Workbench: {config.method} on {base_model_id}.",
        "# Run it with: accelerate launch -m axolotl.cli.train axolotl.yaml",
        f"# {dataset_path} must hold {AXOLOTL_ROWS[config.objective]}.",
    ]
    if config.start_from:
        header.append(
            f"# This run goes on from run {config.start_from!r}'s adapter: set lora_model_dir to that adapter's folder."
        )
    if config.system_prompt:
        header.append(
            "# The workbench adds this system prompt to rows without one; Axolotl does not, so put it in the rows:"
        )
        header.extend(f"#   {line}" for line in config.system_prompt.splitlines())
    body = yaml.safe_dump(out, allow_unicode=True, sort_keys=False, default_flow_style=False, width=100)
    return "\n".join(header) + "\n" + body


# The rows each objective's Axolotl dataset type reads (the workbench's exports: Datasets → Export).
AXOLOTL_ROWS = {
    "sft": 'chat rows: {"messages": [{"role": ..., "content": ...}]} (Export → chat)',
    "dpo": 'preference rows: {"prompt": [messages], "chosen": [answer], "rejected": [answer]} (Export → preference)',
    "orpo": 'argilla rows, one turn: {"prompt": text, "chosen": [user, assistant], "rejected": [user, assistant]} '
    "(not a workbench export: Axolotl's ORPO reads only this shape)",
    "kto": 'feedback rows with a text prompt: {"prompt": text, "completion": text, "label": true|false} '
    "(Export → CSV has these columns)",
    "grpo": 'prompts with their reference answer: {"prompt": [messages], "reference": text}; Axolotl\'s GRPO '
    "also wants a dataset transform of yours naming them (its `type:`), and calls the rewards by module path: "
    "the workbench's are importable as workbench.training.rewards.<name> where the workbench is installed",
}


def _axolotl_dataset(config: TrainConfig, path: str) -> dict:
    if config.objective == "dpo":
        return {
            "path": path,
            "type": "chat_template.default",
            "field_messages": "prompt",
            "field_chosen": "chosen",
            "field_rejected": "rejected",
        }
    if config.objective == "orpo":
        return {"path": path, "type": "chat_template.argilla"}
    if config.objective == "grpo":
        return {"path": path, "split": "train"}  # its `type:` is the user's transform (said in the header)
    if config.objective == "kto":
        return {
            "path": path,
            "type": {"field_prompt": "prompt", "field_completion": "completion", "field_label": "label"},
        }
    return {"path": path, "type": "chat_template", "field_messages": "messages"}


def _axolotl_rl(config: TrainConfig) -> dict:
    """Axolotl's `rl:` block: the objective and its settings (nothing for SFT)."""
    if config.objective == "sft":
        return {}
    out: dict = {"rl": config.objective, "rl_beta": config.beta, "remove_unused_columns": False}
    if config.objective == "dpo" and config.loss_type not in ("auto", "sigmoid"):
        out["dpo_loss_type"] = config.loss_type.split("+")
    if config.objective == "kto":
        out["kto_desirable_weight"] = config.desirable_weight
        out["kto_undesirable_weight"] = config.undesirable_weight
    if config.objective == "grpo":
        chosen = rewards.parse(config.rewards)
        del out["rl_beta"]
        out["trl"] = {
            "beta": config.beta,
            "num_generations": config.num_generations,
            "max_completion_length": config.max_completion_length,
            "temperature": config.temperature,
            "reward_funcs": [f"workbench.training.rewards.{name}" for name, _ in chosen],
            "reward_weights": [weight for _, weight in chosen],
        }
    return out


def _precision(precision: str) -> dict:
    if precision == "bf16":
        return {"bf16": True, "fp16": False}
    if precision == "fp16":
        return {"bf16": False, "fp16": True}
    if precision == "fp32":
        return {"bf16": False, "fp16": False}
    return {"bf16": "auto"}
