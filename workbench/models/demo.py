"""The built-in demo model: a tiny random Llama with a locally trained byte-level BPE tokenizer.

It exists so that every screen of the workbench (datasets, training, chat, evaluation, export) works
offline on a CPU in seconds. Its answers are noise until it is trained; it is not a language model
anyone should use for anything else.

`build_demo_model()` writes, into `models/demo` under WORKBENCH_HOME:
    config.json, model.safetensors, generation_config.json   the model (eos = <|im_end|>)
    tokenizer.json, tokenizer_config.json, chat_template.jinja the tokenizer with a ChatML template
    manifest.json                                             what it is; its presence marks a finished build
The folder is built in a temporary sibling and renamed into place, so a crash or a concurrent build
never leaves a half-written model behind the manifest.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from workbench import paths
from workbench.fileio import write_json_atomic

DEMO_MODEL_NAME = "demo"
MANIFEST = "manifest.json"
SEED = 1234
VOCAB_SIZE = 3000
MAX_CORPUS_CHARS = 2_000_000

IM_START, IM_END, END_OF_TEXT = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
SPECIAL_TOKENS = (END_OF_TEXT, IM_START, IM_END)

# ChatML. Assistant turns (their content and the closing <|im_end|>, which the model must learn to emit)
# sit inside {% generation %} so `return_assistant_tokens_mask=True` and TRL's assistant-only loss work.
CHATML_TEMPLATE = (
    "{%- for message in messages -%}\n"
    "{%- if message['role'] == 'assistant' -%}\n"
    "{{- '<|im_start|>assistant\\n' -}}\n"
    "{% generation %}{{- message['content'] + '<|im_end|>' -}}{% endgeneration %}\n"
    "{{- '\\n' -}}\n"
    "{%- else -%}\n"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}\n"
    "{%- endif -%}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "{{- '<|im_start|>assistant\\n' -}}\n"
    "{%- endif -%}"
)

MODEL_SHAPE = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
}

CORPUS = """\
El equipo de proyectos revisa cada semana el estado de las obras, los costes y los riesgos. Un informe \
claro empieza por el resumen: qué se ha hecho, qué falta, qué ha cambiado desde la última reunión y qué \
decisiones hacen falta. Después vienen los detalles, las cifras y las fechas. Si el presupuesto se desvía \
más de un cinco por ciento, el responsable debe explicar la causa y proponer una medida correctora.

La planificación de un proyecto de software se apoya en tareas pequeñas, pruebas automáticas y entregas \
frecuentes. Cuando una tarea se retrasa, conviene avisar pronto y no esperar al final del mes. Los clientes \
valoran la transparencia: prefieren saber que hay un problema a descubrirlo el día de la entrega.

Para entrenar un modelo de lenguaje con pocos datos se usan adaptadores LoRA: se congela el modelo base y \
se entrenan matrices de rango bajo en las capas de atención. El conjunto de datos debe ser limpio, sin \
duplicados, con respuestas coherentes y con un formato de salida estable, por ejemplo JSON válido.

Hola, ¿en qué puedo ayudarte hoy? Puedo resumir un documento, traducir un texto, responder preguntas sobre \
un informe o extraer los datos principales en formato JSON. Por favor, indica el idioma y la longitud que \
prefieres para la respuesta.

Ejemplo de salida: {"proyecto": "Reforma del puerto", "estado": "en curso", "avance": 0.45, \
"riesgos": ["retraso en permisos", "subida de precios"], "responsable": "María García"}.

The project team reviews the status of every workstream each week: schedule, budget, risks and open \
decisions. A good report starts with a short summary of what was done, what is left and what changed since \
the last meeting. Numbers come with units and dates with the day, month and year.

Fine-tuning a small language model with a low-rank adapter keeps the base weights frozen and trains only a \
few million parameters. The quality of the data matters more than its size: remove duplicates, keep the \
answers consistent, and hold out a validation split to see whether the model generalises or only memorises.

Hello! How can I help you today? I can summarise a document, translate a paragraph, answer questions about \
a report, or extract the key fields as JSON. Tell me which language you prefer and how long the answer \
should be, and I will do my best to follow the instructions exactly.

Example output: {"project": "Harbour renovation", "status": "in progress", "progress": 0.45, \
"risks": ["permit delays", "rising prices"], "owner": "Alex Smith"}. Lists look like [1, 2, 3] and \
numbers like 3.14, 1,000 or 25%. Questions end with a question mark? Sentences end with a full stop.

Los lunes, martes, miércoles, jueves y viernes la oficina abre a las nueve. Enero, febrero, marzo, abril, \
mayo, junio, julio, agosto, septiembre, octubre, noviembre y diciembre. Monday, Tuesday, Wednesday, \
Thursday and Friday; January, February, March, April, May, June, July, August, September, October, \
November and December. Uno, dos, tres, cuatro, cinco, seis, siete, ocho, nueve, diez. One, two, three, \
four, five, six, seven, eight, nine, ten.

Hoy hace sol por la mañana y lloverá por la tarde; la temperatura máxima será de veintidós grados y la \
mínima de once. El viento soplará del norte con rachas fuertes en la costa. Se recomienda llevar paraguas, \
abrigo ligero y calzado cómodo si vas a caminar por el parque o por el centro de la ciudad.

Receta sencilla: pela tres patatas y una cebolla, córtalas en láminas finas y fríelas a fuego lento en \
aceite de oliva. Bate seis huevos con sal, mezcla todo en un cuenco y cuaja la tortilla en la sartén, \
dándole la vuelta con ayuda de un plato. Sírvela templada con pan, tomate y una ensalada verde.

Estimado cliente: hemos recibido su consulta sobre la factura número 2024-0173. El cargo duplicado se \
debe a un error de nuestro sistema de pagos; le devolveremos el importe en un plazo de cinco días \
hábiles. Disculpe las molestias y no dude en contactarnos por teléfono o correo electrónico.

La fotosíntesis permite a las plantas transformar la luz, el agua y el dióxido de carbono en glucosa y \
oxígeno. Los científicos miden la eficiencia con instrumentos precisos, comparan hipótesis con \
experimentos y publican resultados revisados por otros investigadores de universidades y laboratorios.

Today it is sunny in the morning with showers expected in the afternoon; highs near twenty-two degrees \
and lows around eleven. Strong northerly gusts along the coast. Bring an umbrella, a light jacket and \
comfortable shoes if you plan to walk through the park, the museum district or the old town.

Simple recipe: peel three potatoes and an onion, slice them thinly and fry them slowly in olive oil. Beat \
six eggs with salt, combine everything in a bowl and cook the omelette in the pan, flipping it with the \
help of a plate. Serve it warm with bread, tomatoes and a green salad.

Dear customer, thank you for contacting support about invoice 2024-0173. The duplicate charge was caused \
by an error in our payment system; the amount will be refunded within five business days. We apologise \
for the inconvenience. Please reply to this email or call us if anything else is unclear.

Photosynthesis lets plants turn light, water and carbon dioxide into glucose and oxygen. Researchers \
measure efficiency with precise instruments, compare hypotheses against experiments, and publish results \
reviewed by colleagues at universities, hospitals, laboratories and independent institutes.

Viajar en tren de Madrid a Barcelona lleva unas dos horas y media. Desde la ventanilla se ven olivares, \
viñedos, pueblos blancos y montañas lejanas. En verano conviene reservar los billetes con antelación; \
en invierno hay menos turistas, los hoteles son más baratos y los museos están casi vacíos.

The history of printing began long before Gutenberg: carved wooden blocks were used in China and Korea \
centuries earlier. Movable metal type made books cheaper, spread literacy across Europe, and changed \
religion, politics, science and commerce. Newspapers, pamphlets and encyclopaedias followed quickly.

def average(values: list[float]) -> float:
    \"\"\"Return the arithmetic mean; raise ValueError for an empty list.\"\"\"
    if not values:
        raise ValueError("no values")
    return sum(values) / len(values)

SELECT name, budget, status FROM projects WHERE status = 'active' ORDER BY budget DESC LIMIT 10;
"""


def demo_model_path() -> Path:
    """Where the demo model lives in the current workspace (it may not be built yet)."""
    return paths.model_dir(DEMO_MODEL_NAME)


def is_built(path: Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def build_demo_model(target: Path | None = None, *, force: bool = False) -> Path:
    """Build the demo model into `target` (default `models/demo`) and return its path.

    If `target` already holds a finished build (a manifest) and `force` is false, it is returned as is.
    """
    target = Path(target) if target is not None else demo_model_path()
    if is_built(target) and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    building.chmod(0o755)  # mkdtemp makes it private; other tools (an Ollama server) may read the model
    try:
        _build_into(building)
        return _move_into_place(building, target, force=force)
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)


def corpus_texts() -> list[str]:
    """The tokenizer's training text: the built-in paragraphs plus the sample dataset when present."""
    texts = [paragraph for paragraph in CORPUS.split("\n\n") if paragraph.strip()]
    sample = paths.REPO_ROOT / "datasets" / "informes-proyectos.jsonl"
    if sample.is_file():
        try:
            raw = sample.read_text(encoding="utf-8", errors="replace")[:MAX_CORPUS_CHARS]
        except OSError:
            raw = ""
        for line in raw.splitlines():
            if not line.strip():
                continue
            try:
                texts.extend(_strings(json.loads(line)))
            except ValueError:
                texts.append(line)
    return texts


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def build_tokenizer():
    """A byte-level BPE tokenizer trained on `corpus_texts()`, wrapped for transformers, with ChatML."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus_texts(), trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=IM_END,
        pad_token=END_OF_TEXT,
        model_max_length=MODEL_SHAPE["max_position_embeddings"],
    )
    wrapped.chat_template = CHATML_TEMPLATE
    return wrapped


def _build_into(folder: Path) -> None:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer()
    eos_id = tokenizer.convert_tokens_to_ids(IM_END)
    pad_id = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        **MODEL_SHAPE,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=eos_id, pad_token_id=pad_id)
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a 1 MB model needs no "Writing model shards" bar in the CLI
    try:
        model.save_pretrained(folder)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    tokenizer.save_pretrained(folder)
    write_json_atomic(
        folder / MANIFEST,
        {
            "name": DEMO_MODEL_NAME,
            "source": "built locally",
            "parameters": sum(p.numel() for p in model.parameters()),
            "licence": "Apache-2.0 (generated)",
            "chat_template": "chatml",
            "architecture": "LlamaForCausalLM",
            "vocab_size": len(tokenizer),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )


def _move_into_place(building: Path, target: Path, *, force: bool) -> Path:
    """Rename the finished build onto `target`; a concurrent finished build wins unless `force`."""
    if is_built(target) and not force:
        return target  # someone else finished first; ours is discarded by the caller
    old = None
    if target.is_symlink() or target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(target, old)
    try:
        os.rename(building, target)
    except OSError:
        if is_built(target):
            return target  # lost a race to another builder
        if old is not None:
            os.rename(old, target)
            old = None
        raise
    finally:
        if old is not None:
            if old.is_symlink() or old.is_file():
                old.unlink(missing_ok=True)
            else:
                shutil.rmtree(old, ignore_errors=True)
    return target
