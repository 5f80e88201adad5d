"""Child process: `python -m workbench.publish.convert_child LLAMA_CPP_DIR SCRIPT ARGS...` runs one of
llama.cpp's converter scripts from the cache, as its own `__main__`, with one addition.

llama.cpp names a BPE tokenizer's pre-tokenizer by hashing how it splits a test string, and refuses a
tokenizer whose hash it has not listed, even when its pre-tokenizer is plain GPT-2 byte-level splitting
(the built-in demo model's locally trained tokenizer is one). When the hash is unknown, the tokenizer.json
is read instead: if its pre-tokenizer is exactly GPT-2's (ByteLevel with the default regex, nothing else),
the name is "gpt-2", which is what llama.cpp would pick for it; anything else still fails as before.
"""

from __future__ import annotations

import json
import logging
import runpy
import sys
from pathlib import Path


def plain_gpt2_pretokenizer(model_dir: Path) -> bool:
    try:
        data = json.loads((Path(model_dir) / "tokenizer.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    pre = data.get("pre_tokenizer") or {}
    model = data.get("model") or {}
    return (
        model.get("type") == "BPE"
        and pre.get("type") == "ByteLevel"
        and pre.get("use_regex", True)
        and not pre.get("add_prefix_space", False)
        and data.get("normalizer") is None
    )


def _patch_pre_tokenizer_detection() -> None:
    try:
        from conversion import base
    except ImportError:  # a converter layout without the conversion package: nothing to patch
        return
    detect = base.TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer) -> str:
        try:
            return detect(self, tokenizer)
        except NotImplementedError:
            if plain_gpt2_pretokenizer(self.dir_model):
                logging.getLogger("workbench").warning(
                    "tokenizer.json uses plain GPT-2 byte-level pre-tokenization: naming it 'gpt-2'"
                )
                return "gpt-2"
            raise

    base.TextModel.get_vocab_base_pre = get_vocab_base_pre


def main(argv: list[str]) -> None:
    folder, script, *args = argv
    llama_cpp = Path(folder)
    sys.path[:0] = [str(llama_cpp / "gguf-py"), str(llama_cpp)]
    _patch_pre_tokenizer_detection()
    sys.argv = [str(llama_cpp / script), *args]
    runpy.run_path(str(llama_cpp / script), run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
