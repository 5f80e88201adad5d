"""The converter child names plain GPT-2 byte-level pre-tokenization, and nothing else."""

import json

from workbench.publish import convert_child


def test_plain_gpt2_byte_level_pre_tokenization_is_recognised_and_nothing_else(demo_model_dir, tmp_path):
    assert convert_child.plain_gpt2_pretokenizer(demo_model_dir)
    data = json.loads((demo_model_dir / "tokenizer.json").read_text())
    for change in (
        {"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True, "use_regex": True}},
        {"pre_tokenizer": {"type": "Metaspace", "replacement": "▁"}},
        {"normalizer": {"type": "NFC"}},
    ):
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        (folder / "tokenizer.json").write_text(json.dumps({**data, **change}))
        assert not convert_child.plain_gpt2_pretokenizer(folder), change
    assert not convert_child.plain_gpt2_pretokenizer(tmp_path / "missing")
