"""Golden tests: the Ollama template built for each chat-template family reproduces the HF template exactly.

The tokenizers are the demo model's, given each family's special tokens and its real chat template (copied
from the models' tokenizer_config.json; the tool-calling branches are kept as published: they are dead code
for plain conversations but prove the translation copes with them).
"""

from __future__ import annotations

import datetime

import pytest
from transformers import AutoTokenizer
from transformers.utils import chat_template_utils

from workbench.models import demo
from workbench.publish.gotemplate import render
from workbench.publish.templates import (
    OllamaTemplate,
    TemplateTranslationError,
    detect_family,
    hf_render,
    ollama_render,
    ollama_template_for,
)

# --- real HF chat templates ---------------------------------------------------------------------------------

# Qwen/Qwen2.5-0.5B-Instruct (the same for every Qwen2.5 Instruct size).
QWEN25 = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"""

QWEN_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

# HuggingFaceTB/SmolLM2-135M-Instruct.
SMOLLM2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SMOLLM2_DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

# meta-llama/Meta-Llama-3-8B-Instruct.
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

# meta-llama/Llama-3.2-1B-Instruct: the system block is always there, with "Cutting Knowledge Date" and
# "Today Date" lines (the date is the day of rendering: the tests pin it).
LLAMA32 = r"""{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
"""

# mistralai/Mistral-7B-Instruct-v0.3 (the version with tool calling): the system prompt goes into the last
# user turn.
MISTRAL_V03 = r"""{%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}

{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}
{%- set ns = namespace() %}
{%- set ns.index = 0 %}
{%- for message in loop_messages %}
    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}
        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
        {%- endif %}
        {%- set ns.index = ns.index + 1 %}
    {%- endif %}
{%- endfor %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS] [" }}
            {%- for tool in tools %}
                {%- set tool = tool.function %}
                {{- '{"type": "function", "function": {' }}
                {%- for key, val in tool.items() if key != "return" %}
                    {%- if val is string %}
                        {{- '"' + key + '": "' + val + '"' }}
                    {%- else %}
                        {{- '"' + key + '": ' + val|tojson }}
                    {%- endif %}
                    {%- if not loop.last %}
                        {{- ", " }}
                    {%- endif %}
                {%- endfor %}
                {{- "}}" }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- else %}
                    {{- "]" }}
                {%- endif %}
            {%- endfor %}
            {{- "[/AVAILABLE_TOOLS]" }}
            {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\n\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST] " + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif message.tool_calls is defined and message.tool_calls is not none %}
        {{- "[TOOL_CALLS] [" }}
        {%- for tool_call in message.tool_calls %}
            {%- set out = tool_call.function|tojson %}
            {{- out[:-1] }}
            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}
                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
            {%- endif %}
            {{- ', "id": "' + tool_call.id + '"}' }}
            {%- if not loop.last %}
                {{- ", " }}
            {%- else %}
                {{- "]" + eos_token }}
            {%- endif %}
        {%- endfor %}
    {%- elif message["role"] == "assistant" %}
        {{- " " + message["content"]|trim + eos_token}}
    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}
        {%- if message.content is defined and message.content.content is defined %}
            {%- set content = message.content.content %}
        {%- else %}
            {%- set content = message.content %}
        {%- endif %}
        {{- '[TOOL_RESULTS] {"content": ' + content|string + ", " }}
        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}
            {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
        {%- endif %}
        {{- '"call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
"""

# google/gemma-3-1b-it (text part; the image branches are dead code here): the system prompt is folded into
# the first user turn.
GEMMA3 = r"""{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
"""

# google/gemma-2-2b-it: refuses system messages.
GEMMA2 = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}"
    "{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)

# microsoft/Phi-3-mini-4k-instruct.
PHI3 = (
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}"
    "{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}"
    "{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)

# microsoft/Phi-3-mini-4k-instruct as first published (April 2024): system messages are dropped.
PHI3_FIRST = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}"
    "{{'<|user|>' + '\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}"
    "{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + '\n'}}{% endif %}{% endfor %}"
)

# TinyLlama/TinyLlama-1.1B-Chat-v1.0 (Zephyr's format; no family template: the generic path rebuilds it).
ZEPHYR = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + "
    "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}"
    "\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
    "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"
)

# Made up: no known family, plain-text role headers, eos after assistant turns, an optional system preamble.
HASH_HEADERS = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] }}\n\n"
    "{% elif m['role'] == 'user' %}### User:\n{{ m['content'] }}\n\n"
    "{% else %}### Assistant:\n{{ m['content'] }}{{ eos_token }}\n\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}### Assistant:\n{% endif %}"
)

# Made up, and not a per-message concatenation: turns are numbered, so no fixed prefix fits every user turn.
NUMBERED_TURNS = (
    "{% for m in messages %}[{{ loop.index }}] {{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}[{{ messages | length + 1 }}] assistant:{% endif %}"
)

# Made up, with a default system prompt the template inserts when a conversation has none.
HASH_HEADERS_DEFAULT = (
    "{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] %}"
    "{% set messages = messages[1:] %}{% else %}{% set system = 'You are a careful assistant.' %}{% endif %}"
    "System: {{ system }}\n\n{% for m in messages %}"
    "{% if m['role'] == 'user' %}### User:\n{{ m['content'] }}\n\n"
    "{% else %}### Assistant:\n{{ m['content'] }}{{ eos_token }}\n\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}### Assistant:\n{% endif %}"
)

# ChatML, but with no newline after <|im_end|>: the ChatML family template does not fit, the generic one does.
CHATML_NO_NEWLINE = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# --- tokenizers --------------------------------------------------------------------------------------------

LLAMA_TOKENS = ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]

# name: (chat template or None for the demo's ChatML, extra special tokens, bos, eos)
CASES = {
    "demo": (None, [], None, None),
    "qwen2.5": (QWEN25, [], None, None),
    "smollm2": (SMOLLM2, [], "<|im_start|>", None),  # SmolLM2's bos is <|im_start|>, not written first
    "llama3": (LLAMA3, LLAMA_TOKENS, "<|begin_of_text|>", "<|end_of_text|>"),
    "llama3.2": (LLAMA32, [*LLAMA_TOKENS, "<|eom_id|>"], "<|begin_of_text|>", "<|eot_id|>"),
    "mistral": (MISTRAL_V03, ["[INST]", "[/INST]"], "<s>", "</s>"),
    "gemma3": (GEMMA3, ["<start_of_turn>", "<end_of_turn>"], "<bos>", "<eos>"),
    "gemma2": (GEMMA2, ["<start_of_turn>", "<end_of_turn>"], "<bos>", "<eos>"),
    "phi3": (PHI3, ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"], "<s>", "<|endoftext|>"),
    "tinyllama": (ZEPHYR, ["<|system|>", "<|user|>", "<|assistant|>"], "<s>", "</s>"),
    "hash-headers": (HASH_HEADERS, [], "<s>", "</s>"),
}


@pytest.fixture(autouse=True)
def pinned_date(monkeypatch):
    """Llama 3.2's template writes today's date; pin it so HF renders are reproducible."""

    class Fixed(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2025, 3, 14, 12, 0)

    monkeypatch.setattr(chat_template_utils, "datetime", Fixed)


@pytest.fixture
def make_tokenizer(demo_model_dir):
    def make(template=None, extra=(), bos=None, eos=None):
        tokenizer = AutoTokenizer.from_pretrained(demo_model_dir)
        special = {key: value for key, value in (("bos_token", bos), ("eos_token", eos)) if value}
        if extra:
            special["extra_special_tokens"] = list(extra)
        if special:
            tokenizer.add_special_tokens(special)
        if template is not None:
            tokenizer.chat_template = template
        return tokenizer

    return make


@pytest.fixture
def tokenizer_for(make_tokenizer):
    return lambda name: make_tokenizer(*CASES[name])


def conv(*pairs):
    return [{"role": role, "content": content} for role, content in pairs]


CONVERSATIONS = {
    "user": conv(("user", "¿Qué tal?")),
    "system-user": conv(("system", "Responde en JSON."), ("user", "Resume: todo bien.")),
    "user-assistant-user": conv(("user", "Hola"), ("assistant", "Hola, ¿qué necesitas?"), ("user", "Un resumen.")),
    "system-user-assistant-user": conv(("system", "Sé breve."), ("user", "Uno"), ("assistant", "1"), ("user", "Dos")),
    "multiline": conv(
        ("system", "Línea 1\nLínea 2"),
        ("user", "{{ .System }} no es una plantilla\n\nfin"),
        ("assistant", '{"ok": true}'),
        ("user", "¿Y ahora?"),
    ),
}


# --- golden equality: Ollama renders exactly what the HF template renders -----------------------------------


@pytest.mark.parametrize("conversation", list(CONVERSATIONS))
@pytest.mark.parametrize("name", list(CASES))
def test_ollama_render_equals_hf_render(tokenizer_for, name, conversation):
    tokenizer = tokenizer_for(name)
    translated = ollama_template_for(tokenizer)
    messages = CONVERSATIONS[conversation]
    if name == "gemma2" and messages[0]["role"] == "system":
        with pytest.raises(Exception, match="System role not supported"):
            hf_render(tokenizer, messages)
        return
    assert ollama_render(translated, messages) == hf_render(tokenizer, messages)


LAST = conv(("system", "Sé breve."), ("user", "Uno"), ("assistant", "1"), ("user", "Dos"))
CHATML_GOLDEN = (
    "<|im_start|>system\nSé breve.<|im_end|>\n<|im_start|>user\nUno<|im_end|>\n"
    "<|im_start|>assistant\n1<|im_end|>\n<|im_start|>user\nDos<|im_end|>\n"
    "<|im_start|>assistant\n"
)
LLAMA_TURNS = (
    "Sé breve.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nUno<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n1<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nDos<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n"
)
GOLDEN = {
    "demo": (LAST, CHATML_GOLDEN),
    "qwen2.5": (LAST, CHATML_GOLDEN),
    "smollm2": (LAST, CHATML_GOLDEN),
    "llama3": (LAST, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" + LLAMA_TURNS),
    "llama3.2": (
        LAST,
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 14 Mar 2025\n\n" + LLAMA_TURNS,
    ),
    "mistral": (LAST, "<s>[INST] Uno[/INST] 1</s>[INST] Sé breve.\n\nDos[/INST]"),
    "gemma3": (
        LAST,
        "<bos><start_of_turn>user\nSé breve.\n\nUno<end_of_turn>\n"
        "<start_of_turn>model\n1<end_of_turn>\n<start_of_turn>user\nDos<end_of_turn>\n"
        "<start_of_turn>model\n",
    ),
    "gemma2": (
        LAST[1:],
        "<bos><start_of_turn>user\nUno<end_of_turn>\n<start_of_turn>model\n1<end_of_turn>\n"
        "<start_of_turn>user\nDos<end_of_turn>\n<start_of_turn>model\n",
    ),
    "phi3": (
        LAST,
        "<|system|>\nSé breve.<|end|>\n<|user|>\nUno<|end|>\n<|assistant|>\n1<|end|>\n"
        "<|user|>\nDos<|end|>\n<|assistant|>\n",
    ),
    "tinyllama": (
        LAST,
        "<|system|>\nSé breve.</s>\n<|user|>\nUno</s>\n<|assistant|>\n1</s>\n<|user|>\nDos</s>\n<|assistant|>\n",
    ),
    "hash-headers": (
        LAST,
        "<s>Sé breve.\n\n### User:\nUno\n\n### Assistant:\n1</s>\n\n### User:\nDos\n\n### Assistant:\n",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_golden_string(tokenizer_for, name):
    """A hard-coded prompt per family, so that a regression in both renderers at once is caught."""
    tokenizer = tokenizer_for(name)
    messages, expected = GOLDEN[name]
    assert hf_render(tokenizer, messages) == expected
    assert ollama_render(ollama_template_for(tokenizer), messages) == expected


# --- what ollama_template_for decides -----------------------------------------------------------------------

# name: (family, stop, bos, default system)
EXPECTED = {
    "demo": ("chatml", ["<|im_end|>"], None, None),
    "qwen2.5": ("chatml", ["<|im_end|>"], None, QWEN_DEFAULT_SYSTEM),
    "smollm2": ("chatml", ["<|im_end|>"], None, SMOLLM2_DEFAULT_SYSTEM),
    "llama3": ("llama3", ["<|eot_id|>", "<|end_of_text|>"], "<|begin_of_text|>", None),
    "llama3.2": ("generic", ["<|eot_id|>"], "<|begin_of_text|>", None),
    "mistral": ("mistral", ["</s>"], "<s>", None),
    "gemma3": ("gemma", ["<end_of_turn>", "<eos>"], "<bos>", None),
    "gemma2": ("gemma", ["<end_of_turn>", "<eos>"], "<bos>", None),
    "phi3": ("phi3", ["<|end|>", "<|endoftext|>"], None, None),
    "tinyllama": ("generic", ["</s>"], None, None),
    "hash-headers": ("generic", ["</s>"], "<s>", None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_family_stop_bos_and_default_system(tokenizer_for, name):
    translated = ollama_template_for(tokenizer_for(name))
    family, stop, bos, default_system = EXPECTED[name]
    assert (translated.family, translated.stop, translated.bos, translated.default_system) == (
        family,
        stop,
        bos,
        default_system,
    )
    if bos:  # Ollama adds BOS when it tokenizes the prompt: the template must not write a second one
        assert bos not in translated.template
    render(translated.template, {"System": "", "Messages": [], "Prompt": "", "Response": ""})  # executes


@pytest.mark.parametrize(
    ("template", "family"),
    [
        (demo.CHATML_TEMPLATE, "chatml"),
        (QWEN25, "chatml"),
        (SMOLLM2, "chatml"),
        (LLAMA3, "llama3"),
        (LLAMA32, "llama3"),
        (MISTRAL_V03, "mistral"),
        (GEMMA3, "gemma"),
        (GEMMA2, "gemma"),
        (PHI3, "phi3"),
        (ZEPHYR, "generic"),
        (HASH_HEADERS, "generic"),
        ("{{ messages }}", "generic"),
    ],
)
def test_detect_family(template, family):
    assert detect_family(template) == family


def test_default_system_is_what_the_template_inserts(tokenizer_for):
    smollm2 = tokenizer_for("smollm2")
    translated = ollama_template_for(smollm2)
    assert translated.default_system == SMOLLM2_DEFAULT_SYSTEM
    prompt = ollama_render(translated, conv(("user", "Hola")))
    assert prompt == hf_render(smollm2, conv(("user", "Hola")))
    assert prompt.startswith(f"<|im_start|>system\n{SMOLLM2_DEFAULT_SYSTEM}<|im_end|>\n<|im_start|>user\n")
    assert ollama_template_for(tokenizer_for("demo")).default_system is None  # plain ChatML inserts nothing


@pytest.mark.parametrize("name", ["demo", "smollm2", "llama3", "mistral", "gemma3", "phi3", "hash-headers"])
def test_run_system_prompt_becomes_the_modelfile_system(tokenizer_for, name):
    """Training put the run's system prompt first in every conversation without one; Ollama must too."""
    tokenizer = tokenizer_for(name)
    translated = ollama_template_for(tokenizer, system_prompt="Responde siempre en JSON.")
    assert translated.default_system == "Responde siempre en JSON."  # wins over SmolLM2's default
    for messages in (conv(("user", "Hola")), conv(("user", "a"), ("assistant", "b"), ("user", "c"))):
        trained = [{"role": "system", "content": "Responde siempre en JSON."}, *messages]
        assert ollama_render(translated, messages) == hf_render(tokenizer, trained)
    explicit = conv(("system", "Otro."), ("user", "Hola"))  # a request's own system message wins
    assert ollama_render(translated, explicit) == hf_render(tokenizer, explicit)
    assert ollama_template_for(tokenizer, system_prompt="  ").default_system == EXPECTED[name][3]


def test_ollama_render_passes_what_ollama_passes():
    """System messages joined into .System, consecutive messages of one role merged, SYSTEM added first."""
    shows_data = "{{ .System }}|{{ range .Messages }}{{ .Role }}:{{ .Content }};{{ end }}"
    probe = OllamaTemplate("generic", shows_data, stop=[], default_system="DEF")
    assert ollama_render(probe, conv(("user", "a"))) == "DEF|system:DEF;user:a;"
    assert ollama_render(probe, conv(("user", "a")), system="") == "|user:a;"
    merged = ollama_render(probe, conv(("system", "s"), ("user", "a"), ("user", "b")))
    assert merged == "s|system:s;user:a\n\nb;"
    assert (
        ollama_render(probe, conv(("system", "s1"), ("user", "a"), ("system", "s2"), ("user", "b")))
        == "s1\n\ns2|system:s1;user:a;system:s2;user:b;"
    )
    with_bos = OllamaTemplate("generic", "{{ range .Messages }}{{ .Content }}{{ end }}", [], None, "<s>")
    assert ollama_render(with_bos, conv(("user", "x"))) == "<s>x"


# --- the generic path --------------------------------------------------------------------------------------


def test_generic_template_for_a_made_up_format(tokenizer_for):
    translated = ollama_template_for(tokenizer_for("hash-headers"))
    assert translated.template == (
        '{{- if .System }}{{ .System }}{{ "\\n\\n" }}{{ end }}\n'
        "{{- range .Messages }}\n"
        '{{- if eq .Role "user" }}{{ "### User:\\n" }}{{ .Content }}{{ "\\n\\n" }}\n'
        '{{- else if eq .Role "assistant" }}{{ "### Assistant:\\n" }}{{ .Content }}{{ "</s>\\n\\n" }}\n'
        "{{- end }}\n"
        '{{- end }}{{ "### Assistant:\\n" }}'
    )


def test_generic_stop_without_an_end_token(make_tokenizer):
    """No special token closes an assistant turn: stop at the next user header rather than run on."""
    tokenizer = make_tokenizer(HASH_HEADERS.replace("{{ eos_token }}", ""), eos="</s>")
    translated = ollama_template_for(tokenizer)
    assert translated.stop == ["### User:", "</s>"]
    for messages in CONVERSATIONS.values():
        assert ollama_render(translated, messages) == hf_render(tokenizer, messages)


def test_generic_default_system(make_tokenizer):
    tokenizer = make_tokenizer(HASH_HEADERS_DEFAULT, eos="</s>")
    translated = ollama_template_for(tokenizer)
    assert (translated.family, translated.default_system) == ("generic", "You are a careful assistant.")
    for messages in CONVERSATIONS.values():
        assert ollama_render(translated, messages) == hf_render(tokenizer, messages)


def test_family_variant_falls_back_to_the_generic_path(make_tokenizer):
    tokenizer = make_tokenizer(CHATML_NO_NEWLINE)
    assert detect_family(CHATML_NO_NEWLINE) == "chatml"
    translated = ollama_template_for(tokenizer)
    assert (translated.family, translated.stop) == ("generic", ["<|im_end|>"])
    for messages in CONVERSATIONS.values():
        assert ollama_render(translated, messages) == hf_render(tokenizer, messages)


def test_llama32_date_is_the_one_rendered_at_publish_time(tokenizer_for):
    translated = ollama_template_for(tokenizer_for("llama3.2"))
    assert "Cutting Knowledge Date: December 2023\\nToday Date: 14 Mar 2025" in translated.template
    assert ollama_render(translated, conv(("user", "x"))).startswith(
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 14 Mar 2025\n\n<|eot_id|><|start_header_id|>user"
    )


# --- what cannot be translated ------------------------------------------------------------------------------


def test_untranslatable_template_raises(make_tokenizer):
    with pytest.raises(TemplateTranslationError, match="Modelfile preview"):
        ollama_template_for(make_tokenizer(NUMBERED_TURNS))


def test_repeated_content_raises(make_tokenizer):
    echo = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }} ({{ m['content'] | length }} chars, "
        "{{ m['content'] }})\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
    )
    with pytest.raises(TemplateTranslationError, match="exactly once"):
        ollama_template_for(make_tokenizer(echo))


def test_missing_template_raises(make_tokenizer):
    tokenizer = make_tokenizer()
    tokenizer.chat_template = None
    with pytest.raises(TemplateTranslationError, match="no chat template"):
        ollama_template_for(tokenizer)


def test_template_without_system_messages(make_tokenizer):
    """Refused or dropped system messages: the Ollama template has no system slot either."""
    refuses = (
        "{% for m in messages %}"
        "{% if m['role'] == 'system' %}{{ raise_exception('no system') }}{% endif %}"
        "### {{ m['role'] }}:\n{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}### assistant:\n{% endif %}"
    )
    translated = ollama_template_for(make_tokenizer(refuses))
    assert (translated.family, translated.default_system) == ("generic", None)
    assert ".System" not in translated.template
    # microsoft/Phi-3-mini-4k-instruct's first template: drops system messages, the user turn ends with the
    # assistant header, no generation prompt of its own.
    tokenizer = make_tokenizer(PHI3_FIRST, ["<|user|>", "<|assistant|>", "<|end|>"], "<s>", "<|endoftext|>")
    translated = ollama_template_for(tokenizer, system_prompt="Sé breve.")
    assert (translated.family, translated.bos, translated.stop) == ("generic", "<s>", ["<|end|>", "<|endoftext|>"])
    for messages in CONVERSATIONS.values():
        assert ollama_render(translated, messages) == hf_render(tokenizer, messages)
    assert ollama_render(translated, conv(("user", "Hola"))) == "<s><|user|>\nHola<|end|>\n<|assistant|>\n"
