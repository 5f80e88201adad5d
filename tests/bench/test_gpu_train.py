"""bench/gpu_train.py's arithmetic, checked without a GPU: the card's peak and MFU."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import gpu_train  # noqa: E402
import train_throughput  # noqa: E402


@pytest.mark.parametrize(
    ("name", "tflops"),
    [
        ("NVIDIA H100 80GB HBM3", 989),
        ("NVIDIA H100 PCIe", 756),
        ("NVIDIA H200", 989),
        ("NVIDIA A100-SXM4-80GB", 312),
        ("NVIDIA GeForce RTX 4090", 165),
    ],
)
def test_the_peak_comes_from_the_cards_name(name, tflops):
    assert gpu_train.peak_flops(name, None) == tflops * 1e12


def test_an_unknown_card_has_no_peak_unless_given():
    assert gpu_train.peak_flops("Some Future GPU", None) is None
    assert gpu_train.peak_flops("Some Future GPU", 500) == 500e12


def test_mfu_counts_four_n_flops_per_trained_token():
    # 1B parameters at 10,000 tokens/s = 4e13 FLOP/s: 4 % of a 1,000 TFLOP/s card
    assert train_throughput.mfu(10_000, 1_000_000_000, 1e15) == pytest.approx(0.04)
