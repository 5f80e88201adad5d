"""Dataset statistics: real token counts with the base model's chat template, duplicates, JSON validity.

Token counts are those of the rendered conversation, i.e. what training will see:
`len(tokenizer.apply_chat_template(to_messages(row, fmt), tokenize=True))`. For speed they are computed by
rendering the template to text and tokenizing the texts in batches with the (fast) tokenizer.

Near duplicates use MinHash over word 3-shingles with LSH banding to find candidate pairs, then verify each
candidate with the exact Jaccard similarity of the shingle sets; groups are the connected components.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from workbench.data.records import prompt_and_reference, row_text, to_messages

TOKENIZE_CHUNK = 2048
NUM_PERM = 128
MINHASH_SEED = 20240601
SHINGLE = 3
LARGE_BUCKET = 64  # buckets bigger than this are clustered against leaders instead of all pairs
MAX_LEADERS = 64
ESTIMATE_MARGIN = 0.15


@dataclass
class LengthCheck:
    """Which rows do not fit max_length, and what training does with them: a row whose prompt alone fills
    max_length is dropped (nothing of its answer is left to learn from); a longer one is truncated (its
    answer cut short)."""

    max_length: int
    tokens: list[int]
    """Tokens of each whole row (prompt and answer, as rendered by the chat template)."""
    prompt_tokens: list[int]
    """Tokens of each row's prompt, up to where the answer starts."""
    context: int | None = None
    """How many tokens the model reads, where known: max_length cannot usefully go beyond it."""

    @property
    def dropped(self) -> list[int]:
        return [i for i, n in enumerate(self.prompt_tokens) if n >= self.max_length]

    @property
    def truncated(self) -> list[int]:
        pairs = enumerate(zip(self.tokens, self.prompt_tokens, strict=True))
        return [i for i, (whole, prompt) in pairs if whole > self.max_length > prompt]

    @property
    def over(self) -> list[int]:
        return [i for i, n in enumerate(self.tokens) if n > self.max_length]

    @property
    def needed(self) -> int:
        """The max_length that keeps every row whole."""
        return max(self.tokens, default=0)

    def message(self, what: str = "rows") -> str | None:
        """“2 rows are longer than max_length 1024: 1 will be truncated (its answer cut short), 1 dropped (its
        prompt alone fills max_length); raise max_length to 1,311 to keep them whole.” None when all fit."""
        over = self.over
        if not over:
            return None
        fates = []
        if self.truncated:
            fates.append(f"{len(self.truncated)} will be truncated (the answer cut short)")
        if self.dropped:
            fates.append(f"{len(self.dropped)} dropped (the prompt alone fills it)")
        verb = "is" if len(over) == 1 else "are"
        if self.context is not None and self.needed > self.context:
            fix = (
                f"the longest needs {self.needed:,} tokens, more than the model reads ({self.context:,}): shorten "
                "or remove such rows (a larger max_length cannot keep them whole)."
            )
        else:
            fix = f"raise max_length to {self.needed:,} to keep them whole, or shorten them."
        longer = f"{len(over)} of {len(self.tokens)} {what} {verb} longer than max_length {self.max_length}"
        return f"{longer}: {', '.join(fates)}; {fix}"

    def listing(self, file: str) -> list[str]:
        """One line per row over max_length: `file:LINE: N tokens (prompt P): truncated|dropped`."""
        dropped = set(self.dropped)
        return [
            f"{file}:{i + 1}: {self.tokens[i]:,} tokens (prompt {self.prompt_tokens[i]:,}): "
            + ("dropped" if i in dropped else "truncated")
            for i in self.over
        ]


def check_lengths(
    rows: list[dict],
    fmt: str,
    tokenizer,
    max_length: int,
    system_prompt: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> LengthCheck:
    """Token counts of each row and of its prompt, with `system_prompt` where a row has none (as training
    adds it)."""
    conversations = [with_system(to_messages(row, fmt), system_prompt) for row in rows]
    prompts = [with_system(prompt_and_reference(row, fmt)[0], system_prompt) for row in rows]
    tokens = conversation_token_counts(conversations, tokenizer, progress)
    prompt_tokens = conversation_token_counts(prompts, tokenizer, generation_prompt=True)
    return LengthCheck(max_length, tokens, prompt_tokens)


def with_system(messages: list[dict], system_prompt: str) -> list[dict]:
    """The conversation with `system_prompt` first where it has no system message (as training adds it)."""
    if system_prompt.strip() and not any(m.get("role") == "system" for m in messages):
        return [{"role": "system", "content": system_prompt}, *messages]
    return messages


@dataclass
class PairStats:
    """Preference pairs in tokens: each prompt, and each side's answer (the tokens it adds to the prompt, its
    end-of-turn marker included); and how many pairs differ only in whitespace."""

    prompt_tokens: list[int]
    chosen_tokens: list[int]
    rejected_tokens: list[int]
    whitespace_only: int

    @staticmethod
    def mean(values: list[int]) -> float:
        return float(np.mean(values)) if values else 0.0


def pair_stats(rows: list[dict], lengths: LengthCheck, tokenizer) -> PairStats:
    """`lengths` counted prompt + chosen; the rejected side is counted here."""
    rejected = [[*row.get("prompt", []), {"role": "assistant", "content": row.get("rejected")}] for row in rows]
    rejected_whole = conversation_token_counts(rejected, tokenizer)
    prompts = lengths.prompt_tokens
    return PairStats(
        prompt_tokens=prompts,
        chosen_tokens=[whole - prompt for whole, prompt in zip(lengths.tokens, prompts, strict=True)],
        rejected_tokens=[whole - prompt for whole, prompt in zip(rejected_whole, prompts, strict=True)],
        whitespace_only=sum(
            str(row.get("chosen")).split() == str(row.get("rejected")).split()
            and row.get("chosen") != row.get("rejected")
            for row in rows
        ),
    )


@dataclass
class DatasetStats:
    rows: int
    characters: int
    tokens_total: int
    tokens_per_row: list[int]
    max_length: int
    over_max: list[int] = field(default_factory=list)
    lengths: LengthCheck | None = None
    pairs: PairStats | None = None
    exact_duplicates: list[list[int]] = field(default_factory=list)
    near_duplicates: list[list[int]] = field(default_factory=list)
    json_outputs: int = 0
    json_valid: int = 0

    @property
    def json_valid_share(self) -> float | None:
        """Valid JSON outputs over all rows (None when no output even looks like JSON: a text dataset)."""
        return self.json_valid / self.rows if self.json_outputs and self.rows else None

    @property
    def tokens_mean(self) -> float:
        return float(np.mean(self.tokens_per_row)) if self.tokens_per_row else 0.0

    @property
    def tokens_median(self) -> float:
        return float(np.median(self.tokens_per_row)) if self.tokens_per_row else 0.0

    @property
    def tokens_p95(self) -> int:
        """The 95th percentile, as a token count that occurs in the data (nearest rank)."""
        if not self.tokens_per_row:
            return 0
        return int(np.percentile(self.tokens_per_row, 95, method="higher"))

    @property
    def tokens_max(self) -> int:
        return max(self.tokens_per_row, default=0)

    @property
    def duplicate_rows(self) -> int:
        """Rows that repeat an earlier row exactly (what removing exact duplicates would drop)."""
        return sum(len(group) - 1 for group in self.exact_duplicates)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(
            json_valid_share=self.json_valid_share,
            tokens_mean=self.tokens_mean,
            tokens_median=self.tokens_median,
            tokens_p95=self.tokens_p95,
            tokens_max=self.tokens_max,
        )
        return data


def compute_stats(
    rows: list[dict], fmt: str, tokenizer, max_length: int = 1024, progress: Callable[[int, int], None] | None = None
) -> DatasetStats:
    texts = [row_text(row, fmt) for row in rows]
    lengths = check_lengths(rows, fmt, tokenizer, max_length, progress=progress)
    counts = lengths.tokens
    json_outputs = json_valid = 0
    for row in rows:
        output = prompt_and_reference(row, fmt)[1].strip()
        if output[:1] in ("{", "["):
            json_outputs += 1
            try:
                json.loads(output)
            except ValueError:
                continue
            json_valid += 1
    return DatasetStats(
        rows=len(rows),
        characters=sum(len(text) for text in texts),
        tokens_total=sum(counts),
        tokens_per_row=counts,
        max_length=max_length,
        over_max=lengths.over,
        lengths=lengths,
        exact_duplicates=find_exact_duplicates(texts),
        near_duplicates=find_near_duplicates(texts),
        json_outputs=json_outputs,
        json_valid=json_valid,
        pairs=pair_stats(rows, lengths, tokenizer) if fmt == "preference" else None,
    )


# --- token counts -----------------------------------------------------------------------------------


def token_counts(
    rows: list[dict], fmt: str, tokenizer, progress: Callable[[int, int], None] | None = None
) -> list[int]:
    """The number of tokens of each row's rendered conversation (see `conversation_token_counts`)."""
    return conversation_token_counts([to_messages(row, fmt) for row in rows], tokenizer, progress)


def conversation_token_counts(
    conversations: list[list[dict]],
    tokenizer,
    progress: Callable[[int, int], None] | None = None,
    generation_prompt: bool = False,
) -> list[int]:
    """The number of tokens of each rendered conversation (with the assistant's generation prompt after it
    when `generation_prompt`: a prompt as the model reads it before answering).

    Fast tokenizers: render the conversations to text in chunks, then tokenize each chunk in one batch
    (what `apply_chat_template(tokenize=True)` does, row by row); the backend's `encode_batch_fast` is
    used when its counts agree with `apply_chat_template` on the first rows. Other tokenizers: one
    `apply_chat_template` per row. A row the template refuses (e.g. a template that rejects a system
    turn) raises ValueError naming it (1-based). `progress(rows counted, rows)` is told after each chunk.
    """
    if not conversations:
        return []
    report = progress or (lambda done, total: None)
    if not getattr(tokenizer, "is_fast", False):
        return [_count_one(tokenizer, messages, i, generation_prompt) for i, messages in enumerate(conversations)]
    counts: list[int] = []
    backend = None
    for start in range(0, len(conversations), TOKENIZE_CHUNK):
        chunk = conversations[start : start + TOKENIZE_CHUNK]
        texts = _render_all(tokenizer, chunk, start, generation_prompt)
        if start == 0:
            backend = _checked_backend(tokenizer, chunk, texts, generation_prompt)
        if backend is not None:
            counts.extend(len(encoding) for encoding in backend.encode_batch_fast(texts, add_special_tokens=False))
        else:
            encoded = tokenizer(
                texts, add_special_tokens=False, return_attention_mask=False, return_token_type_ids=False
            )
            counts.extend(len(ids) for ids in encoded["input_ids"])
        report(len(counts), len(conversations))
    return counts


def _render_all(tokenizer, conversations: list[list[dict]], offset: int, generation_prompt: bool) -> list[str]:
    try:
        texts = tokenizer.apply_chat_template(conversations, tokenize=False, add_generation_prompt=generation_prompt)
        if isinstance(texts, list) and len(texts) == len(conversations):
            return texts
    except Exception:  # render one by one below, to name the row that fails
        pass
    return [_render(tokenizer, messages, offset + i, generation_prompt) for i, messages in enumerate(conversations)]


def _checked_backend(tokenizer, conversations: list[list[dict]], texts: list[str], generation_prompt: bool):
    """The `tokenizers` backend when counting with it matches apply_chat_template, else None."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or not hasattr(backend, "encode_batch_fast"):
        return None
    probe = min(len(texts), 16)
    try:
        fast = [len(e) for e in backend.encode_batch_fast(texts[:probe], add_special_tokens=False)]
        exact = [
            len(_input_ids(tokenizer.apply_chat_template(m, tokenize=True, add_generation_prompt=generation_prompt)))
            for m in conversations[:probe]
        ]
    except Exception:
        return None
    return backend if fast == exact else None


def _render(tokenizer, messages: list[dict], index: int, generation_prompt: bool = False) -> str:
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
    except Exception as exc:  # jinja raises TemplateError (and templates raise their own exceptions)
        raise ValueError(f"Row {index + 1} cannot be rendered with the chat template of this tokenizer: {exc}") from exc


def _count_one(tokenizer, messages: list[dict], index: int, generation_prompt: bool = False) -> int:
    try:
        encoded = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=generation_prompt)
    except Exception as exc:
        raise ValueError(f"Row {index + 1} cannot be rendered with the chat template of this tokenizer: {exc}") from exc
    return len(_input_ids(encoded))


def _input_ids(encoded) -> list[int]:
    """`apply_chat_template(tokenize=True)` gives a list of ids or (transformers 5) a BatchEncoding."""
    if isinstance(encoded, dict) or hasattr(encoded, "keys"):
        encoded = encoded["input_ids"]
    if len(encoded) and isinstance(encoded[0], list | tuple):
        encoded = encoded[0]
    return list(encoded)


# --- duplicates -------------------------------------------------------------------------------------


def find_exact_duplicates(texts: list[str]) -> list[list[int]]:
    """Groups (two or more) of indices whose texts are identical, in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        groups.setdefault(text, []).append(i)
    return [group for group in groups.values() if len(group) > 1]


_PUNCT = re.compile(r"[^\w\s]+")
_M64 = 0xFFFFFFFFFFFFFFFF


def normalise(text: str) -> list[str]:
    """Case-folded words, punctuation removed: the unit near-duplicate detection compares."""
    return _PUNCT.sub(" ", text.casefold()).split()


def find_near_duplicates(texts: list[str], threshold: float = 0.85) -> list[list[int]]:
    """Groups of texts whose word 3-shingle sets have Jaccard similarity >= threshold.

    Texts are normalised first (case, whitespace, punctuation). Exact duplicates are folded into one
    before the search, so a group made only of exact duplicates is not reported; a near-duplicate group
    lists every member, including the exact copies of its members. Groups are sorted, in order of their
    first index.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    first_of: dict[str, int] = {}
    copies: dict[int, list[int]] = {}
    for i, text in enumerate(texts):
        j = first_of.setdefault(text, i)
        copies.setdefault(j, []).append(i)
    uniques = list(copies)  # indices of the first copy of each distinct text
    if len(uniques) < 2:
        return []

    shingles, offsets = _shingle_hashes([texts[i] for i in uniques])
    usable = np.flatnonzero(np.diff(offsets) > 0)  # texts with at least one word
    if len(usable) < 2:
        return []
    signatures = _minhash(shingles, offsets, usable)
    bands, rows_per_band = _banding(threshold, NUM_PERM)
    # Candidates whose MinHash estimate is far below the threshold are not verified exactly: the
    # estimate's standard deviation is at most 0.045 with 128 permutations, so the margin is > 3 sd.
    floor = threshold - ESTIMATE_MARGIN

    parent = list(range(len(usable)))  # union-find over positions in `usable`

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    sets: dict[int, set[int]] = {}

    def shingle_set(k: int) -> set[int]:
        if k not in sets:
            u = usable[k]
            sets[k] = set(shingles[offsets[u] : offsets[u + 1]].tolist())
        return sets[k]

    def link(a: int, b: int) -> bool:
        """Join a and b when their exact Jaccard similarity reaches the threshold."""
        ra, rb = find(a), find(b)
        if ra == rb:
            return True
        sa, sb = shingle_set(a), shingle_set(b)
        inter = len(sa & sb)
        if inter / (len(sa) + len(sb) - inter) >= threshold:
            parent[max(ra, rb)] = min(ra, rb)
            return True
        return False

    for bucket in _lsh_buckets(signatures, bands, rows_per_band):
        if len(bucket) <= LARGE_BUCKET:
            left, right = np.triu_indices(len(bucket), k=1)
            estimate = (signatures[bucket[left]] == signatures[bucket[right]]).mean(axis=1)
            for x, y in zip(
                bucket[left[estimate >= floor]].tolist(), bucket[right[estimate >= floor]].tolist(), strict=True
            ):
                link(x, y)
            continue
        # A big bucket (many rows sharing boilerplate): leader clustering instead of all pairs.
        remaining = bucket
        for _ in range(MAX_LEADERS):
            if len(remaining) < 2:
                break
            leader, rest = int(remaining[0]), remaining[1:]
            estimate = (signatures[rest] == signatures[leader]).mean(axis=1)
            joined = {c for c in rest[estimate >= floor].tolist() if link(leader, c)}
            remaining = rest[[c not in joined for c in rest.tolist()]] if joined else rest

    components: dict[int, list[int]] = {}
    for k in range(len(usable)):
        components.setdefault(find(k), []).append(k)
    groups = []
    for members in components.values():
        if len(members) > 1:
            groups.append(sorted(i for k in members for i in copies[uniques[usable[k]]]))
    groups.sort(key=lambda group: group[0])
    return groups


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _shingle_hashes(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """All texts' shingle hashes, concatenated (uint64), and offsets[i]:offsets[i+1] for text i.

    Texts with 1 or 2 words get one shingle (the whole text); texts with no words get none.
    """
    vocabulary: dict[str, int] = {}
    word_ids: list[int] = []
    lengths = np.zeros(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        words = normalise(text)
        if 0 < len(words) < SHINGLE:
            words = words + ["\x00"] * (SHINGLE - len(words))
        lengths[i] = len(words)
        word_ids.extend(vocabulary.setdefault(word, len(vocabulary)) for word in words)
    word_hash = np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")
            for word in vocabulary
        ),
        dtype=np.uint64,
        count=len(vocabulary),
    )
    word_values = word_hash[np.asarray(word_ids, dtype=np.int64)]
    ends = np.cumsum(lengths)
    starts = ends - lengths
    counts = np.maximum(lengths - (SHINGLE - 1), 0)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    if offsets[-1] == 0:
        return np.zeros(0, dtype=np.uint64), offsets
    # position p of the concatenated words starts a shingle when p + 2 stays inside its own text
    positions = np.repeat(starts, counts) + (np.arange(offsets[-1]) - np.repeat(offsets[:-1], counts))
    hashed = _splitmix64(word_values[positions])
    for k in range(1, SHINGLE):
        hashed = _splitmix64(hashed ^ word_values[positions + k])
    return hashed, offsets


def _minhash(shingles: np.ndarray, offsets: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """MinHash signatures (len(usable) x NUM_PERM, uint64) with permutations a*x+b mod 2**64."""
    rng = np.random.default_rng(MINHASH_SEED)
    a = rng.integers(1, 2**63, size=NUM_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, size=NUM_PERM, dtype=np.uint64)
    signatures = np.empty((len(usable), NUM_PERM), dtype=np.uint64)
    starts = offsets[usable]
    ends = offsets[usable + 1]
    budget = 1 << 20  # shingle x permutation values per block (8 MiB)
    i = 0
    while i < len(usable):
        j = i + 1
        while j < len(usable) and (ends[j] - starts[i]) * NUM_PERM <= budget:
            j += 1
        block = shingles[starts[i] : ends[j - 1]]
        values = block[:, None] * a[None, :] + b[None, :]
        signatures[i:j] = np.minimum.reduceat(values, starts[i:j] - starts[i], axis=0)
        i = j
    return signatures


def _banding(threshold: float, num_perm: int) -> tuple[int, int]:
    """Bands x rows for LSH: the most rows per band that still catch a pair at `threshold` 99.5% of
    the time (fewer false candidates to verify)."""
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if 1 - (1 - threshold**rows) ** bands >= 0.995:
            return bands, rows
    return num_perm, 1


def _lsh_buckets(signatures: np.ndarray, bands: int, rows: int):
    """Yield arrays of signature row indices that share a band (buckets of two or more)."""
    for band in range(bands):
        part = signatures[:, band * rows : (band + 1) * rows]
        key = np.zeros(len(signatures), dtype=np.uint64)
        for column in range(rows):
            key = _splitmix64(key ^ part[:, column])
        order = np.argsort(key, kind="stable")
        ordered = key[order]
        starts = np.concatenate([[0], np.flatnonzero(ordered[1:] != ordered[:-1]) + 1])
        sizes = np.diff(np.append(starts, len(ordered)))
        for start, size in zip(starts[sizes > 1], sizes[sizes > 1], strict=True):
            yield order[start : start + size]


# --- charts -----------------------------------------------------------------------------------------


def histogram_frame(stats: DatasetStats, bins: int = 30):
    """Tokens-per-row histogram as a DataFrame: bin_start, bin_end, rows, over_max.

    Bins have integer edges; each bin has a row for rows within max_length (over_max False, always
    present) and, when there are any, one for rows above it (over_max True), so stacked bars colour the
    rows that training would truncate. `rows` sums to the number of rows.
    """
    import pandas as pd

    columns = ["bin_start", "bin_end", "rows", "over_max"]
    counts = np.asarray(stats.tokens_per_row, dtype=np.int64)
    if counts.size == 0:
        return pd.DataFrame(
            {
                "bin_start": pd.Series(dtype="int64"),
                "bin_end": pd.Series(dtype="int64"),
                "rows": pd.Series(dtype="int64"),
                "over_max": pd.Series(dtype="bool"),
            }
        )
    low, high = int(counts.min()), int(counts.max())
    width = max(1, math.ceil((high - low + 1) / max(1, bins)))
    edges = np.arange(low, high + width + 1, width)
    over = counts > stats.max_length
    within_hist, _ = np.histogram(counts[~over], bins=edges)
    over_hist, _ = np.histogram(counts[over], bins=edges)
    records = []
    for k in range(len(edges) - 1):
        start, end = int(edges[k]), int(edges[k + 1])
        records.append((start, end, int(within_hist[k]), False))
        if over_hist[k]:
            records.append((start, end, int(over_hist[k]), True))
    return pd.DataFrame.from_records(records, columns=columns)


def token_histogram_chart(stats: DatasetStats, bins: int = 30):
    """Altair histogram of tokens per row (rows over max_length in another colour), with a rule at
    max_length when some row comes near it. Returns an Altair chart."""
    import altair as alt
    import pandas as pd

    frame = histogram_frame(stats, bins=bins)
    within, over = "within max length", f"over {stats.max_length} tokens"
    frame["length"] = frame["over_max"].map({False: within, True: over})
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("bin_start:Q", bin="binned", title="tokens per row"),
            x2="bin_end:Q",
            y=alt.Y("sum(rows):Q", title="rows", stack=True, axis=alt.Axis(format="d", tickMinStep=1)),
            color=alt.Color(
                "length:N",
                title=None,
                scale=alt.Scale(domain=[within, over], range=["#4c78a8", "#e45756"]),
                legend=alt.Legend(orient="top"),
            ),
            tooltip=[
                alt.Tooltip("bin_start:Q", title="from"),
                alt.Tooltip("bin_end:Q", title="to (excl.)"),
                alt.Tooltip("rows:Q"),
                alt.Tooltip("length:N", title="length"),
            ],
        )
    )
    if stats.tokens_max < stats.max_length * 0.8:
        return bars  # the limit is far beyond every row: a rule there would squeeze the bars to one side
    rule = (
        alt.Chart(pd.DataFrame({"max_length": [stats.max_length]}))
        .mark_rule(color="#e45756", strokeDash=[4, 4])
        .encode(x="max_length:Q", tooltip=[alt.Tooltip("max_length:Q", title="max length")])
    )
    return alt.layer(bars, rule)
