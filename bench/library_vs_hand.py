"""Hand-written code against the well-kept library that does the same, side by side on 100,000 rows.

    .venv/bin/python bench/library_vs_hand.py [--rows 100000]

1. Near-duplicate detection: `workbench.data.stats.find_near_duplicates` (MinHash LSH written with numpy)
   against `datasketch` (MinHash + MinHashLSH), both verifying candidates with the exact Jaccard
   similarity of the same word 3-shingles, the same threshold (0.85) and 128 permutations.
2. ROUGE-L F1: `workbench.metrics.rouge_l` (an LCS over normalised words) against Google's
   `rouge-score` (`RougeScorer(["rougeL"])`), once with its own tokenizer and once with ours.

Each prints the time of both, the ratio, and whether they agree on the tests' cases and on the 100,000
rows. The libraries are not requirements of the app: install them to run this
(`.venv/bin/pip install -c constraints.txt datasketch rouge-score`); without them it says so and exits.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench import metrics  # noqa: E402
from workbench.data import stats  # noqa: E402

WORDS = [
    "proyecto",
    "informe",
    "estado",
    "avance",
    "riesgo",
    "cliente",
    "entrega",
    "fase",
    "equipo",
    "presupuesto",
    "retraso",
    "semana",
    "hito",
    "pendiente",
    "revisión",
    "aprobado",
    "bloqueado",
    "prioridad",
    "alta",
    "media",
    "baja",
    "soporte",
    "factura",
    "envío",
    "cuenta",
    "acceso",
    "the",
    "project",
    "status",
    "report",
    "risk",
    "customer",
    "delivery",
    "phase",
    "team",
    "budget",
    "delay",
    "week",
    "milestone",
    "pending",
]


# ----------------------------------------------------------------------------------------- near duplicates


def datasketch_near_duplicates(texts: list[str], threshold: float = 0.85) -> list[list[int]]:
    """`stats.find_near_duplicates`'s contract (same groups, same exact-copy folding) built on datasketch."""
    from datasketch import MinHash, MinHashLSH

    first_of: dict[str, int] = {}
    copies: dict[int, list[int]] = {}
    for i, text in enumerate(texts):
        copies.setdefault(first_of.setdefault(text, i), []).append(i)
    uniques = list(copies)
    shingle_sets = {}
    for i in uniques:
        words = stats.normalise(texts[i])
        if 0 < len(words) < stats.SHINGLE:
            words = words + ["\x00"] * (stats.SHINGLE - len(words))
        shingles = {" ".join(words[k : k + stats.SHINGLE]) for k in range(len(words) - stats.SHINGLE + 1)}
        if shingles:
            shingle_sets[i] = shingles
    if len(shingle_sets) < 2:
        return []
    keys = list(shingle_sets)
    hashes = MinHash.bulk(([s.encode("utf-8") for s in shingle_sets[i]] for i in keys), num_perm=stats.NUM_PERM, seed=1)
    lsh = MinHashLSH(threshold=threshold, num_perm=stats.NUM_PERM)
    with lsh.insertion_session() as session:
        for i, minhash in zip(keys, hashes, strict=True):
            session.insert(i, minhash)
    parent = {i: i for i in keys}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, minhash in zip(keys, hashes, strict=True):
        for j in lsh.query(minhash):
            if j <= i or find(i) == find(j):
                continue
            a, b = shingle_sets[i], shingle_sets[j]
            inter = len(a & b)
            if inter / (len(a) + len(b) - inter) >= threshold:
                parent[max(find(i), find(j))] = min(find(i), find(j))
    components: dict[int, list[int]] = {}
    for i in keys:
        components.setdefault(find(i), []).append(i)
    groups = [sorted(c for i in members for c in copies[i]) for members in components.values() if len(members) > 1]
    return sorted(groups, key=lambda group: group[0])


def near_duplicate_cases() -> list[tuple[str, list[str], float]]:
    """The cases of tests/workbench/data/test_stats.py, rebuilt here."""
    rng = random.Random(3)
    forty = [" ".join(rng.choice(WORDS) for _ in range(40)) for _ in range(3)]
    changed = forty[0].split()
    changed[17] = "distinta"
    text = "El proyecto Atlas va en plazo; el riesgo principal es el proveedor de hardware, que entrega tarde."
    other = "Resumen de la semana: dos hitos cerrados y uno pendiente de aprobación por el comité de dirección."
    return [
        ("one word changed in forty", [forty[0], forty[1], " ".join(changed)], 0.85),
        ("case, punctuation, exact copies", [text, other, text.upper(), text.replace(";", " ,"), text], 0.85),
        ("only exact copies", [text, other, text, other], 0.85),
        ("empty and blank", ["", "", "a"], 0.85),
        ("threshold 0.4", [forty[0], " ".join(forty[0].split()[:28] + forty[1].split()[28:])], 0.4),
    ]


def dataset(rows: int, seed: int = 7) -> tuple[list[str], int]:
    """`rows` texts of 20-60 words; 1 % are near copies of another row (one or two words changed)."""
    rng = random.Random(seed)
    texts = [
        " ".join(rng.choice(WORDS) + str(rng.randrange(50)) for _ in range(rng.randint(20, 60))) for _ in range(rows)
    ]
    planted = rows // 100
    for k in range(planted):
        source = texts[rng.randrange(rows)].split()
        for _ in range(1 + k % 2):
            source[rng.randrange(len(source))] = f"cambio{k}"
        texts[rng.randrange(rows)] = " ".join(source)
    return texts, planted


def timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def compare_near_duplicates(rows: int) -> None:
    print("near duplicates (threshold 0.85, 128 permutations, exact Jaccard check)")
    agree = 0
    cases = near_duplicate_cases()
    for name, texts, threshold in cases:
        ours, theirs = stats.find_near_duplicates(texts, threshold), datasketch_near_duplicates(texts, threshold)
        agree += ours == theirs
        print(f"  case {name:34} workbench {ours}  datasketch {theirs}")
    texts, planted = dataset(rows)
    ours, ours_s = timed(stats.find_near_duplicates, texts)
    theirs, theirs_s = timed(datasketch_near_duplicates, texts)
    same = {tuple(g) for g in ours} == {tuple(g) for g in theirs}
    print(f"  tests' cases: {agree}/{len(cases)} the same")
    print(
        f"  {rows:,} rows ({planted:,} near copies planted): workbench {ours_s:6.1f} s, {len(ours):,} groups; "
        f"datasketch {theirs_s:6.1f} s, {len(theirs):,} groups; same groups: {same}"
    )
    only_ours = {tuple(g) for g in ours} - {tuple(g) for g in theirs}
    only_theirs = {tuple(g) for g in theirs} - {tuple(g) for g in ours}
    if not same:
        print(f"    only the workbench: {len(only_ours)}, only datasketch: {len(only_theirs)}")
    print(f"near_duplicates_ratio={theirs_s / ours_s:.2f} (datasketch time / workbench time)")


# ------------------------------------------------------------------------------------------------ ROUGE-L


class _OurTokens:
    def tokenize(self, text: str) -> list[str]:
        return metrics._tokens(text)


def rouge_pairs(rows: int, seed: int = 11) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = []
    for _ in range(rows):
        reference = [rng.choice(WORDS) for _ in range(rng.randint(5, 40))]
        prediction = [w if rng.random() > 0.3 else rng.choice(WORDS) for w in reference]
        if rng.random() < 0.2:
            prediction = prediction[: len(prediction) // 2]
        pairs.append((" ".join(prediction).capitalize() + ".", " ".join(reference)))
    return pairs


def compare_rouge(rows: int) -> None:
    from rouge_score import rouge_scorer

    print("ROUGE-L F1")
    theirs_default = rouge_scorer.RougeScorer(["rougeL"])
    theirs_ours = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_OurTokens())
    cases = [
        ("The cat sat on mat.", "the black cat sat on the mat"),
        ("a b c", "c b a"),
        ("Same words here", "same  words here!"),
        ("alpha beta", "gamma delta"),
        ("La información está completa", "la información está completa"),
        ("", "something"),
    ]
    for prediction, reference in cases:
        ours = metrics.rouge_l(prediction, reference)
        default = theirs_default.score(reference, prediction)["rougeL"].fmeasure
        with_ours = theirs_ours.score(reference, prediction)["rougeL"].fmeasure
        print(
            f"  {prediction!r:34} vs {reference!r:34} workbench {ours:.4f}  rouge-score {default:.4f} "
            f"(with our tokens {with_ours:.4f})"
        )
    pairs = rouge_pairs(rows)
    ours, ours_s = timed(lambda: [metrics.rouge_l(p, r) for p, r in pairs])
    default, default_s = timed(lambda: [theirs_default.score(r, p)["rougeL"].fmeasure for p, r in pairs])
    with_ours, with_ours_s = timed(lambda: [theirs_ours.score(r, p)["rougeL"].fmeasure for p, r in pairs])
    same = sum(abs(a - b) < 1e-9 for a, b in zip(ours, with_ours, strict=True))
    same_default = sum(abs(a - b) < 1e-9 for a, b in zip(ours, default, strict=True))
    print(
        f"  {rows:,} pairs: workbench {ours_s:5.1f} s; rouge-score {default_s:5.1f} s (its tokenizer, "
        f"{same_default:,} same scores), {with_ours_s:5.1f} s (our tokens, {same:,} same scores)"
    )
    print(f"rouge_l_ratio={with_ours_s / ours_s:.2f} (rouge-score time / workbench time, same tokens)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    try:
        import datasketch  # noqa: F401
        import rouge_score  # noqa: F401
    except ImportError as exc:
        print(f"{exc.name} is not installed: .venv/bin/pip install -c constraints.txt datasketch rouge-score")
        return 0
    compare_near_duplicates(args.rows)
    compare_rouge(args.rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
