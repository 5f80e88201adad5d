"""Translate the Hugging Face chat template a model was trained with into an Ollama (Go) template.

A published model must see in Ollama exactly the prompt it saw in training. `ollama_template_for` picks a
hand-written Go template for the known families (modelled on Ollama's library templates: `.System` at the
top, system messages skipped in the `.Messages` loop, the assistant header appended for generation) and
checks it against the tokenizer's own template on a few conversations; when the family is unknown, or the
family template does not reproduce the HF one (a variant), the generic path cuts the HF template into
per-role pieces and rebuilds it. `ollama_render` reproduces what Ollama does for a chat request (see
Ollama's `template.collate`: all system messages joined into `.System`, consecutive messages of one role
merged, the Modelfile SYSTEM added as the first message when the request has none).

Beginning-of-sequence: when the HF template writes `{{ bos_token }}` at the start, the Ollama template
leaves it out, because Ollama's tokenizer adds BOS itself (a second one would change the prompt), and the
`bos` field records it; `ollama_render` prepends it, so its result is the text the model sees.

Templates that write the date of rendering (Llama 3.1+: "Today Date: ...") go through the generic path,
which fixes the date of publishing in the Ollama template.

Known differences that no Go template can express (Go templates have no `trim`): Llama 3, Gemma and the
Mistral assistant turns strip surrounding whitespace from message contents in HF; Ollama sends them as
they are. They only matter for contents that begin or end with whitespace. And, as in Ollama's library
templates, all system messages go to the top (joined by Ollama): a template that renders a system message
in the middle of a conversation in place (ChatML, Phi-3) differs there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from workbench.errors import WorkbenchError
from workbench.publish.gotemplate import render

__all__ = [
    "OllamaTemplate",
    "TemplateTranslationError",
    "detect_family",
    "hf_render",
    "ollama_render",
    "ollama_template_for",
]


class TemplateTranslationError(WorkbenchError, ValueError):
    """The HF chat template cannot be rebuilt as an Ollama template automatically."""


@dataclass(frozen=True)
class OllamaTemplate:
    family: str  # "chatml" | "llama3" | "mistral" | "gemma" | "phi3" | "generic"
    template: str  # the Ollama Go template (TEMPLATE in the Modelfile)
    stop: list[str]  # PARAMETER stop values: the tokenizer's end-of-turn token(s) and its eos
    default_system: str | None  # the Modelfile SYSTEM: the run's system prompt, or the one the HF template
    # inserts by itself when a conversation has none
    bos: str | None = None  # the BOS token the HF template writes first; Ollama adds it, the template not


# --- hand-written family templates -------------------------------------------------------------------------

_CHATML = (
    "{{- if .System }}<|im_start|>system\n"
    "{{ .System }}<|im_end|>\n"
    "{{ end }}\n"
    "{{- range .Messages }}\n"
    '{{- if eq .Role "user" "assistant" }}<|im_start|>{{ .Role }}\n'
    "{{ .Content }}<|im_end|>\n"
    "{{ end }}\n"
    "{{- end }}<|im_start|>assistant\n"
)

_LLAMA3 = (
    "{{- if .System }}<|start_header_id|>system<|end_header_id|>\n\n"
    "{{ .System }}<|eot_id|>\n"
    "{{- end }}\n"
    "{{- range .Messages }}\n"
    '{{- if eq .Role "user" "assistant" }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n'
    "{{ .Content }}<|eot_id|>\n"
    "{{- end }}\n"
    "{{- end }}<|start_header_id|>assistant<|end_header_id|>\n\n"
)

# Mistral v0.3 puts the system prompt into the last user turn; the assistant turn ends with eos.
_MISTRAL = (
    "{{- range $i, $_ := .Messages }}\n"
    '{{- if eq .Role "user" }}[INST] {{ if and $.System (eq (len (slice $.Messages $i)) 1) }}'
    "{{ $.System }}\n\n{{ end }}{{ .Content }}[/INST]\n"
    '{{- else if eq .Role "assistant" }} {{ .Content }}<EOS>\n'
    "{{- end }}\n"
    "{{- end }}"
)

# Gemma folds the system prompt into the first user turn (Gemma 3's HF template; Gemma 2's refuses one).
_GEMMA = (
    "{{- $first := true }}\n"
    "{{- range .Messages }}\n"
    '{{- if eq .Role "user" "assistant" }}'
    '<start_of_turn>{{ if eq .Role "user" }}user{{ else }}model{{ end }}\n'
    "{{ if $first }}{{ if $.System }}{{ $.System }}\n\n"
    "{{ end }}{{ $first = false }}{{ end }}{{ .Content }}<end_of_turn>\n"
    "{{ end }}\n"
    "{{- end }}<start_of_turn>model\n"
)

_PHI3 = (
    "{{- if .System }}<|system|>\n"
    "{{ .System }}<|end|>\n"
    "{{ end }}\n"
    "{{- range .Messages }}\n"
    '{{- if eq .Role "user" "assistant" }}<|{{ .Role }}|>\n'
    "{{ .Content }}<|end|>\n"
    "{{ end }}\n"
    "{{- end }}<|assistant|>\n"
)

_FAMILY_TEMPLATES = {"chatml": _CHATML, "llama3": _LLAMA3, "mistral": _MISTRAL, "gemma": _GEMMA, "phi3": _PHI3}
_END_OF_TURN = {
    "chatml": ["<|im_end|>"],
    "llama3": ["<|eot_id|>", "<|eom_id|>"],
    "mistral": [],
    "gemma": ["<end_of_turn>"],
    "phi3": ["<|end|>"],
    "generic": [],
}

# Sentinel contents for probing a template: they cannot occur in real text, and `trim` leaves them alone.
_SYS, _U1, _A1, _U2, _BOS = "\x00SYS\x00", "\x00U1\x00", "\x00A1\x00", "\x00U2\x00", "\x00BOS\x00"

# Conversations on which a translation must reproduce the HF template exactly.
_CHECKS = [
    [("user", "¿Cuál es la capital de Francia?")],
    [("system", "Responde en JSON."), ("user", "Resume el informe.")],
    [("user", "Hola"), ("assistant", "Hola, ¿en qué puedo ayudarte?"), ("user", "Dame un ejemplo.")],
    [("system", "Sé breve."), ("user", "Uno"), ("assistant", "1"), ("user", "Dos")],
    [("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d"), ("user", "e")],
]


def _msgs(*pairs) -> list[dict]:
    return [{"role": role, "content": content} for role, content in pairs]


def detect_family(chat_template: str) -> str:
    """The template family by its marker tokens; "generic" when none is recognised."""
    if "<|im_start|>" in chat_template:
        return "chatml"
    if "<|start_header_id|>" in chat_template:
        return "llama3"
    if "<start_of_turn>" in chat_template:
        return "gemma"
    if "[INST]" in chat_template:
        return "mistral"
    if "<|user|>" in chat_template and "<|end|>" in chat_template:
        return "phi3"
    return "generic"


def hf_render(tokenizer, messages: list[dict]) -> str:
    """The prompt the HF chat template builds for `messages`, ending with the generation prompt."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def ollama_render(t: OllamaTemplate, messages: list[dict], system: str | None = None) -> str:
    """The text Ollama gives the model for a chat request; `system` is the Modelfile SYSTEM
    (default: `t.default_system`)."""
    system = t.default_system if system is None else system
    messages = list(messages)
    if system and (not messages or messages[0]["role"] != "system"):
        messages.insert(0, {"role": "system", "content": system})
    systems: list[str] = []
    collated: list[dict] = []
    for m in messages:  # Ollama's template.collate
        if m["role"] == "system":
            systems.append(m["content"])
        if collated and collated[-1]["Role"] == m["role"] and m["role"] != "tool":
            collated[-1]["Content"] += "\n\n" + m["content"]
        else:
            collated.append({"Role": m["role"], "Content": m["content"]})
    data = {"System": "\n\n".join(systems), "Messages": collated, "Prompt": "", "Response": ""}
    return (t.bos or "") + render(t.template, data)


def ollama_template_for(tokenizer, system_prompt: str = "") -> OllamaTemplate:
    """The Ollama template that reproduces `tokenizer`'s chat template; `system_prompt` (the run's) becomes
    the Modelfile SYSTEM. Raises TemplateTranslationError when no translation reproduces it."""
    chat_template = getattr(tokenizer, "chat_template", None)
    if not isinstance(chat_template, str) or not chat_template.strip():
        raise TemplateTranslationError("The tokenizer has no chat template to translate. " + _EDIT_HINT)
    if _render(tokenizer, _msgs(("user", _U1))) is None:
        raise TemplateTranslationError("The chat template fails on a one-message conversation. " + _EDIT_HINT)
    family = detect_family(chat_template)
    found = None
    if family in _FAMILY_TEMPLATES and not (family == "llama3" and "Cutting Knowledge Date" in chat_template):
        eos = tokenizer.eos_token or ""
        candidate = OllamaTemplate(
            family,
            _FAMILY_TEMPLATES[family].replace("<EOS>", eos),
            _stops(tokenizer, _END_OF_TURN[family]),
            _default_system(tokenizer),
            _bos(tokenizer),
        )
        if _mismatch(tokenizer, candidate) is None:
            found = candidate
    if found is None:
        found = _generic(tokenizer)
    if system_prompt.strip():  # training put it first in every conversation that had no system message
        found = replace(found, default_system=system_prompt)
    return found


# --- helpers ------------------------------------------------------------------------------------------------

_EDIT_HINT = "Edit the TEMPLATE in the Modelfile preview by hand."


def _render(tokenizer, messages: list[dict], gen: bool = True, **kwargs) -> str | None:
    """The HF rendering, or None where the template refuses the conversation (raise_exception)."""
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen, **kwargs)
    except Exception:  # jinja2 errors, raise_exception(), templates tripping on a probe
        return None


def _bos(tokenizer) -> str | None:
    text = _render(tokenizer, _msgs(("user", _U1)), bos_token=_BOS) or ""
    return (tokenizer.bos_token or None) if text.startswith(_BOS) else None


def _stops(tokenizer, end_of_turn: list[str], in_vocab: bool = True) -> list[str]:
    """The end-of-turn strings (those in the vocabulary, unless in_vocab is False) and eos, deduplicated."""
    vocab = tokenizer.get_vocab() if in_vocab else None
    stops = [token for token in end_of_turn if vocab is None or token in vocab]
    if tokenizer.eos_token:
        stops.append(tokenizer.eos_token)
    return list(dict.fromkeys(stops))


def _default_system(tokenizer) -> str | None:
    """The system prompt the HF template inserts by itself: what fills the system slot when there is none."""
    with_system = _render(tokenizer, _msgs(("system", _SYS), ("user", _U1)))
    alone = _render(tokenizer, _msgs(("user", _U1)))
    if with_system is None or alone is None or with_system.count(_SYS) != 1:
        return None
    before, after = with_system.split(_SYS)
    if alone.startswith(before) and alone.endswith(after) and len(alone) >= len(before) + len(after):
        inserted = alone[len(before) : len(alone) - len(after)]
        return inserted if inserted and "\x00" not in inserted else None
    return None


def _mismatch(tokenizer, t: OllamaTemplate) -> str | None:
    """None when `t` reproduces the HF template on every check conversation it accepts, else a description."""
    checked = 0
    for pairs in _CHECKS:
        messages = _msgs(*pairs)
        expected = _render(tokenizer, messages)
        if expected is None:
            continue
        checked += 1
        got = ollama_render(t, messages)
        if got != expected:
            roles = ", ".join(role for role, _ in pairs)
            return f"for [{roles}] the HF template gives {expected!r} but the Ollama template {got!r}"
    return None if checked else "the HF template renders none of the check conversations"


def _untranslatable(reason: str) -> TemplateTranslationError:
    return TemplateTranslationError(f"Cannot rebuild the chat template as an Ollama template: {reason}. " + _EDIT_HINT)


def _cut(text: str | None, sentinels: list[str], what: str) -> list[str]:
    """`text` split around each sentinel, which must occur once each, in order."""
    if text is None:
        raise _untranslatable(f"the template refuses a {what} conversation")
    pieces = []
    for sentinel in sentinels:
        if text.count(sentinel) != 1:
            raise _untranslatable(f"in a {what} conversation a message does not appear exactly once")
        head, text = text.split(sentinel)
        pieces.append(head)
    return [*pieces, text]


def _specials(tokenizer) -> list[str]:
    return sorted(set(tokenizer.all_special_tokens) | set(tokenizer.get_added_vocab()), key=len, reverse=True)


def _common_prefix(x: str, y: str, specials: list[str]) -> int:
    """Length of the common prefix of x and y, shortened so that it does not end inside a special token."""
    n = 0
    while n < min(len(x), len(y)) and x[n] == y[n]:
        n += 1
    moved = True
    while moved:
        moved = False
        for token in specials:
            for s in (x, y):
                i = s.find(token, max(0, n - len(token) + 1))
                if -1 < i < n < i + len(token):
                    n, moved = i, True
    return n


def _go_literal(text: str) -> str:
    """A Go string action printing `text` (JSON string escapes are valid Go escapes)."""
    return "{{ " + json.dumps(text, ensure_ascii=False) + " }}" if text else ""


def _generic(tokenizer) -> OllamaTemplate:
    """Cut the HF template into per-role prefix/suffix pieces by rendering sentinel conversations."""

    def r(messages, gen=True):
        return _render(tokenizer, messages, gen, bos_token=_BOS)

    user, answer, user2, system = ("user", _U1), ("assistant", _A1), ("user", _U2), ("system", _SYS)
    eos = tokenizer.eos_token or ""
    one, one_no_gen = r(_msgs(user)), r(_msgs(user), gen=False)
    if one is None or one_no_gen is None:
        raise _untranslatable("the template refuses a one-message conversation")
    # The generation prompt: what add_generation_prompt adds (some templates end with eos without it).
    if one.startswith(one_no_gen):
        gen = one[len(one_no_gen) :]
    elif eos and one_no_gen.endswith(eos) and one.startswith(one_no_gen[: -len(eos)]):
        gen = one[len(one_no_gen) - len(eos) :]
    else:
        raise _untranslatable("the generation prompt is not appended at the end")
    head, tail = _cut(one, [_U1], "[user]")
    if not tail.endswith(gen):
        raise _untranslatable("the generation prompt is not appended at the end")
    user_suffix = tail[: len(tail) - len(gen)]
    head3, mid1, mid2, tail3 = _cut(r(_msgs(user, answer, user2)), [_U1, _A1, _U2], "[user, assistant, user]")
    head2, mid1_no_gen, tail2 = _cut(r(_msgs(user, answer), gen=False), [_U1, _A1], "[user, assistant]")
    if (head3, tail3, head2, mid1_no_gen) != (head, tail, head, mid1) or not mid1.startswith(user_suffix):
        raise _untranslatable("the messages are not rendered one after the other, each the same way")
    assistant_prefix = mid1[len(user_suffix) :]
    # mid2 = assistant suffix + user prefix: the assistant suffix is what also ends the last assistant turn.
    cut = _common_prefix(tail2, mid2, _specials(tokenizer))
    assistant_suffix, user_prefix = mid2[:cut], mid2[cut:]
    if not head.endswith(user_prefix):
        raise _untranslatable("the first user turn does not start like the later ones")
    before_user = head[: len(head) - len(user_prefix)]
    # The system slot: a block before the first user turn, inserted only with a system message ("if") or
    # always, filled with a default when there is none ("always"). None: the template refuses or drops
    # system messages, and so does the Ollama template.
    prefix, system_prefix, system_suffix, mode, default = before_user, "", "", None, None
    with_system = r(_msgs(system, user))
    if with_system is not None and _SYS in with_system:
        head_s, mid_s, tail_s = _cut(with_system, [_SYS, _U1], "[system, user]")
        if tail_s != tail or not mid_s.endswith(user_prefix):
            raise _untranslatable("the system message is not a block of its own before the first user turn")
        system_suffix = mid_s[: len(mid_s) - len(user_prefix)]
        if head_s.startswith(before_user):
            mode, system_prefix = "if", head_s[len(before_user) :]
        elif (
            before_user.startswith(head_s)
            and before_user.endswith(system_suffix)
            and len(before_user) >= len(head_s) + len(system_suffix)
        ):
            mode, prefix = "always", head_s
            default = before_user[len(head_s) : len(before_user) - len(system_suffix)] or None
        else:
            raise _untranslatable("the template changes its opening depending on the system message")
    bos = None
    if prefix.startswith(_BOS):
        bos, prefix = tokenizer.bos_token or None, prefix[len(_BOS) :]
    pieces = [
        prefix,
        system_prefix,
        system_suffix,
        user_prefix,
        user_suffix,
        assistant_prefix,
        assistant_suffix,
        gen,
        default or "",
    ]
    pieces = [p.replace(_BOS, tokenizer.bos_token or "") for p in pieces]
    if any("\x00" in p for p in pieces):
        raise _untranslatable("message contents are repeated or transformed by the template")
    prefix, system_prefix, system_suffix, user_prefix, user_suffix, assistant_prefix, assistant_suffix, gen, default = (
        pieces
    )
    lines = [_go_literal(prefix)] if prefix else []
    if mode == "if":
        lines.append(
            "{{- if .System }}"
            + _go_literal(system_prefix)
            + "{{ .System }}"
            + _go_literal(system_suffix)
            + "{{ end }}"
        )
    elif mode == "always":
        lines.append("{{- .System }}" + _go_literal(system_suffix))
    lines += [
        "{{- range .Messages }}",
        '{{- if eq .Role "user" }}' + _go_literal(user_prefix) + "{{ .Content }}" + _go_literal(user_suffix),
        '{{- else if eq .Role "assistant" }}'
        + _go_literal(assistant_prefix)
        + "{{ .Content }}"
        + _go_literal(assistant_suffix),
        "{{- end }}",
        "{{- end }}" + _go_literal(gen),
    ]
    specials = _specials(tokenizer)
    ends = sorted((assistant_suffix.find(s), s) for s in specials if s in assistant_suffix)
    end_of_turn = [s for _, s in ends] or ([user_prefix.strip()] if user_prefix.strip() else [])
    result = OllamaTemplate(
        "generic", "\n".join(lines), _stops(tokenizer, end_of_turn, in_vocab=False), default or None, bos
    )
    problem = _mismatch(tokenizer, result)
    if problem:
        raise _untranslatable(problem)
    return result
