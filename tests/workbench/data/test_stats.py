import random

import pytest
from transformers import AutoTokenizer

from workbench.data import stats as stats_module
from workbench.data.records import row_text, to_messages
from workbench.data.stats import (
    check_lengths,
    compute_stats,
    find_exact_duplicates,
    find_near_duplicates,
    histogram_frame,
    token_counts,
    token_histogram_chart,
)

WORDS_TEXT = (
    "proyecto obra coste riesgo fecha equipo cliente informe resumen plazo presupuesto reunión tarea "
    "entrega prueba datos modelo report budget schedule owner status review meeting task delivery "
    "test data model risk permit harbour bridge road school hospital energy water solar wind"
)
WORDS = WORDS_TEXT.split()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


@pytest.fixture(scope="module")
def tokenizer(demo_model_dir):
    return AutoTokenizer.from_pretrained(demo_model_dir)


ALPACA = [
    {"instruction": "Resume el informe", "input": "La obra va al 45 %.", "output": "Avance del 45 %."},
    {"instruction": "Say hi", "input": "", "output": "hi", "system": "Be brief."},
    {"instruction": "Traduce: 北京 😀", "input": "", "output": "Beijing"},
]
CHAT = [
    {"messages": [{"role": "user", "content": "Hola"}, {"role": "assistant", "content": "¡Hola!"}]},
    {
        "messages": [
            {"role": "system", "content": "JSON only."},
            {"role": "user", "content": "Estado?"},
            {"role": "assistant", "content": '{"estado": "ok"}'},
            {"role": "user", "content": "Y?"},
            {"role": "assistant", "content": "[1, 2]"},
        ]
    },
]


def _template_length(tokenizer, row, fmt):
    encoded = tokenizer.apply_chat_template(to_messages(row, fmt), tokenize=True)
    return len(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)


@pytest.mark.parametrize(("rows", "fmt"), [(ALPACA, "alpaca"), (CHAT, "chat")])
def test_token_counts_equal_apply_chat_template_lengths(tokenizer, rows, fmt):
    expected = [_template_length(tokenizer, row, fmt) for row in rows]
    assert token_counts(rows, fmt, tokenizer) == expected
    assert all(n > 5 for n in expected)


def test_token_counts_batches_across_chunks_and_slow_path(tokenizer, monkeypatch):
    rows = ALPACA * 7
    expected = [_template_length(tokenizer, row, "alpaca") for row in rows]
    monkeypatch.setattr(stats_module, "TOKENIZE_CHUNK", 4)
    assert stats_module._checked_backend(
        tokenizer,
        [to_messages(r, "alpaca") for r in ALPACA],
        tokenizer.apply_chat_template([to_messages(r, "alpaca") for r in ALPACA], tokenize=False),
        False,
    )
    assert token_counts(rows, "alpaca", tokenizer) == expected
    monkeypatch.setattr(stats_module, "_checked_backend", lambda *args: None)  # the wrapper's batch call
    assert token_counts(rows, "alpaca", tokenizer) == expected

    class SlowTokenizer:  # no batch tokenizing: one apply_chat_template per row (BatchEncoding return)
        is_fast = False

        def apply_chat_template(self, messages, tokenize=True, add_generation_prompt=False):
            return tokenizer.apply_chat_template(
                messages, tokenize=tokenize, add_generation_prompt=add_generation_prompt
            )

    assert token_counts(rows, "alpaca", SlowTokenizer()) == expected
    assert token_counts([], "alpaca", tokenizer) == []


def test_a_row_the_template_refuses_is_named(tokenizer):
    class Refusing:
        is_fast = True

        def apply_chat_template(self, messages, tokenize=True, add_generation_prompt=False):
            if messages[0]["role"] == "system":
                raise ValueError("System role not supported")
            return tokenizer.apply_chat_template(
                messages, tokenize=tokenize, add_generation_prompt=add_generation_prompt
            )

    with pytest.raises(ValueError, match="Row 2 cannot be rendered.*System role not supported"):
        token_counts(ALPACA, "alpaca", Refusing())


def test_over_max_flags_exactly_the_long_row(tokenizer):
    rng = random.Random(3)
    rows = [{"instruction": sentence(rng, 8), "input": "", "output": sentence(rng, 5)} for _ in range(6)]
    rows[4]["output"] = sentence(rng, 400)
    stats = compute_stats(rows, "alpaca", tokenizer, max_length=200)
    assert stats.over_max == [4]
    assert stats.tokens_per_row[4] > 200 and max(stats.tokens_per_row[:4] + stats.tokens_per_row[5:]) <= 200
    assert stats.rows == 6 and stats.tokens_total == sum(stats.tokens_per_row)
    assert stats.characters == sum(len(row_text(row, "alpaca")) for row in rows)
    assert stats.tokens_max == stats.tokens_per_row[4] == stats.tokens_p95
    assert stats.tokens_mean == pytest.approx(stats.tokens_total / 6)
    assert min(stats.tokens_per_row) <= stats.tokens_median <= stats.tokens_max


def test_exact_duplicates():
    assert find_exact_duplicates(["a", "b", "a", "c", "b", "a"]) == [[0, 2, 5], [1, 4]]
    assert find_exact_duplicates(["a", "b", "A"]) == []


def test_near_duplicates_one_word_changed_in_forty():
    rng = random.Random(7)
    base = sentence(rng, 40).split()
    for position in (0, 19, 39):  # the worst case is a word in the middle: 3 of 38 shingles change
        changed = list(base)
        changed[position] = "zzzchanged"
        texts = [" ".join(base), sentence(rng, 40), " ".join(changed), sentence(rng, 40)]
        assert find_near_duplicates(texts) == [[0, 2]], position


def test_near_duplicates_ignore_case_punctuation_whitespace_but_not_exact_copies():
    rng = random.Random(11)
    text = sentence(rng, 30)
    shouted = "  " + text.upper().replace(" ", " ,  ") + "!!"
    other = sentence(rng, 30)
    texts = [text, other, text, shouted, other]
    # 0 and 2 are exact copies (not near duplicates by themselves) but 3 is a near duplicate of both
    assert find_near_duplicates(texts) == [[0, 2, 3]]
    assert find_near_duplicates([text, other, text, other]) == []
    assert find_near_duplicates([text, other]) == []
    assert find_near_duplicates([]) == [] and find_near_duplicates(["", "", "a"]) == []


def test_near_duplicates_at_scale_find_planted_pairs_only():
    rng = random.Random(5)
    texts = [sentence(rng, 60) for _ in range(3000)]
    planted = []
    for k in range(20):
        source = rng.randrange(len(texts))
        words = texts[source].split()
        words[rng.randrange(len(words))] = f"planted{k}"
        texts.append(" ".join(words))
        planted.append(sorted([source, len(texts) - 1]))
    found = find_near_duplicates(texts)
    assert sorted(found) == sorted(planted)


@pytest.mark.parametrize("large_bucket", [64, 4])
def test_near_duplicates_in_templated_rows(monkeypatch, large_bucket):
    """Rows sharing 45 words of boilerplate (Jaccard about 0.6) fill big LSH buckets; only the planted
    near copies (one word changed) are reported, also when big buckets use leader clustering."""
    monkeypatch.setattr(stats_module, "LARGE_BUCKET", large_bucket)
    rng = random.Random(8)
    boilerplate = sentence(rng, 45)
    texts = [f"{boilerplate} {' '.join(f'v{rng.randrange(10**6)}' for _ in range(15))}" for _ in range(800)]
    planted = []
    for k in range(10):
        source = 50 * k + 3
        words = texts[source].split()
        words[-1 - k % 3] = f"planted{k}"
        texts.append(" ".join(words))
        planted.append([source, len(texts) - 1])
    assert find_near_duplicates(texts) == planted


def test_near_duplicates_threshold_is_respected():
    rng = random.Random(2)
    words = sentence(rng, 40).split()
    changed = list(words)
    for position in (5, 15, 25, 35):  # about 12 of 38 shingles change: Jaccard near 0.5
        changed[position] = f"x{position}"
    texts = [" ".join(words), " ".join(changed)]
    assert find_near_duplicates(texts, threshold=0.85) == []
    assert find_near_duplicates(texts, threshold=0.4) == [[0, 1]]
    with pytest.raises(ValueError):
        find_near_duplicates(texts, threshold=0)


def test_compute_stats_duplicates_and_json_share(tokenizer):
    rng = random.Random(9)
    prompt = sentence(rng, 40)
    near = prompt.replace(prompt.split()[20], "cambiado", 1)
    rows = [
        {"instruction": prompt, "input": "", "output": '{"ok": true}'},
        {"instruction": "Lista", "input": "", "output": " [1, 2, 3] "},
        {"instruction": "Roto", "input": "", "output": '{"ok": tru'},
        {"instruction": "Texto", "input": "", "output": "plain text"},
        {"instruction": prompt, "input": "", "output": '{"ok": true}'},
        {"instruction": near, "input": "", "output": '{"ok": true}'},
    ]
    stats = compute_stats(rows, "alpaca", tokenizer)
    assert stats.exact_duplicates == [[0, 4]]
    assert stats.near_duplicates == [[0, 4, 5]]
    assert stats.json_outputs == 5 and stats.json_valid == 4
    assert stats.json_valid_share == pytest.approx(4 / 6)  # over all six outputs, the text one included

    plain = compute_stats(rows[3:4], "alpaca", tokenizer)
    assert plain.json_outputs == 0 and plain.json_valid_share is None
    assert plain.exact_duplicates == [] and plain.near_duplicates == []


def test_json_share_reads_the_last_assistant_turn(tokenizer):
    stats = compute_stats(CHAT, "chat", tokenizer)
    assert stats.json_outputs == 1 and stats.json_valid == 1  # row 2 ends with "[1, 2]"; row 1 is text


def test_histogram_frame_and_chart(tokenizer):
    rng = random.Random(4)
    rows = [{"instruction": sentence(rng, rng.randint(1, 60)), "input": "", "output": "ok"} for _ in range(50)]
    stats = compute_stats(rows, "alpaca", tokenizer, max_length=60)
    assert stats.over_max, "the test needs some rows over max_length"
    frame = histogram_frame(stats, bins=10)
    assert list(frame.columns) == ["bin_start", "bin_end", "rows", "over_max"]
    assert frame["rows"].sum() == 50
    assert frame.loc[frame["over_max"], "rows"].sum() == len(stats.over_max)
    assert (frame["bin_end"] > frame["bin_start"]).all()
    assert frame["bin_start"].min() <= min(stats.tokens_per_row)
    assert frame["bin_end"].max() > max(stats.tokens_per_row)
    assert frame["bin_start"].nunique() <= 10

    spec = token_histogram_chart(stats).to_dict()
    assert len(spec["layer"]) == 2
    assert spec["layer"][1]["mark"]["type"] == "rule"
    color = spec["layer"][0]["encoding"]["color"]
    assert color["scale"]["domain"] == ["within max length", "over 60 tokens"]  # not false/true
    assert spec["layer"][0]["encoding"]["y"]["axis"] == {"format": "d", "tickMinStep": 1}  # whole rows

    short = compute_stats(rows[:5], "alpaca", tokenizer, max_length=4096)
    assert "layer" not in token_histogram_chart(short).to_dict()  # no rule far right of every row

    empty = compute_stats([], "alpaca", tokenizer)
    assert empty.rows == 0 and empty.tokens_max == 0 and empty.tokens_p95 == 0
    assert histogram_frame(empty).empty
    token_histogram_chart(empty).to_dict()


def test_counting_reports_progress_by_chunk(tokenizer, monkeypatch):
    from workbench.data import stats as stats_module

    monkeypatch.setattr(stats_module, "TOKENIZE_CHUNK", 2)
    seen = []
    compute_stats(ALPACA * 2, "alpaca", tokenizer, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(2, 6), (4, 6), (6, 6)]


def test_stats_to_dict_is_json_ready(tokenizer):
    import json

    data = compute_stats(ALPACA, "alpaca", tokenizer).to_dict()
    assert json.loads(json.dumps(data))["rows"] == 3
    assert {"tokens_mean", "tokens_p95", "json_valid_share"} <= data.keys()


def test_check_lengths_says_which_rows_training_cuts_and_which_it_drops(tokenizer):
    short = {"instruction": "Repite: uno", "input": "", "output": "uno"}
    long_answer = {"instruction": "Repite", "input": "", "output": "palabra " * 80}
    long_prompt = {"instruction": "palabra " * 120, "input": "", "output": "uno"}
    rows = [short, long_answer, long_prompt]
    check = check_lengths(rows, "alpaca", tokenizer, max_length=100)
    assert check.tokens == token_counts(rows, "alpaca", tokenizer)
    prompt_only = [
        tokenizer.apply_chat_template(to_messages(r, "alpaca")[:-1], add_generation_prompt=True) for r in rows
    ]
    assert check.prompt_tokens == [len(stats_module._input_ids(p)) for p in prompt_only]
    assert check.over == [1, 2] and check.truncated == [1] and check.dropped == [2]
    assert check.needed == max(check.tokens) > 100
    assert check.message() == (
        f"2 of 3 rows are longer than max_length 100: 1 will be truncated (the answer cut short), 1 dropped "
        f"(the prompt alone fills it); raise max_length to {check.needed:,} to keep them whole, or shorten them."
    )
    assert check.listing("d.jsonl") == [
        f"d.jsonl:2: {check.tokens[1]:,} tokens (prompt {check.prompt_tokens[1]:,}): truncated",
        f"d.jsonl:3: {check.tokens[2]:,} tokens (prompt {check.prompt_tokens[2]:,}): dropped",
    ]
    assert check_lengths([short], "alpaca", tokenizer, max_length=100).message() is None
    with_system = check_lengths([short], "alpaca", tokenizer, max_length=100, system_prompt="Eres útil.")
    assert with_system.tokens[0] > check.tokens[0]  # training adds the run's system prompt: so does the count


def test_statistics_carry_the_length_check(tokenizer):
    rows = [{"instruction": "palabra " * 120, "input": "", "output": "uno"}]
    stats = compute_stats(rows, "alpaca", tokenizer, max_length=100)
    assert stats.over_max == [0] and stats.lengths.dropped == [0]


def test_preference_statistics_count_prompt_and_both_answers(tokenizer):
    rows = [
        {
            "prompt": [{"role": "user", "content": "¿Hora?"}],
            "chosen": "Son las tres.",
            "rejected": "No lo sé, lo siento.",
        },
        {"prompt": [{"role": "user", "content": "¿Día?"}], "chosen": "Lunes  hoy", "rejected": "Lunes hoy"},
    ]
    stats = compute_stats(rows, "preference", tokenizer, max_length=1024)
    pairs = stats.pairs
    prompts = [[{"role": "user", "content": "¿Hora?"}], [{"role": "user", "content": "¿Día?"}]]
    assert pairs.prompt_tokens == stats_module.conversation_token_counts(prompts, tokenizer, generation_prompt=True)
    with_rejected = [[*p, {"role": "assistant", "content": r["rejected"]}] for p, r in zip(prompts, rows, strict=True)]
    expected = [
        w - p
        for w, p in zip(
            stats_module.conversation_token_counts(with_rejected, tokenizer), pairs.prompt_tokens, strict=True
        )
    ]
    assert pairs.rejected_tokens == expected and pairs.rejected_tokens[0] > pairs.chosen_tokens[0]
    assert pairs.whitespace_only == 1
    assert compute_stats(rows[:1], "preference", tokenizer).pairs.whitespace_only == 0
    assert compute_stats([{"instruction": "a", "input": "", "output": "b"}], "alpaca", tokenizer).pairs is None
