"""Logs as the user reads them: library noise left out, everything else kept in order."""

from workbench.logs import for_reading

RAW = [
    "=== 2026-12-02 starting job 3: Train run ===",
    "Failed to load CPU gemm_4bit_forward from kernels-community: No module named 'kernels'. Please make sure",
    "Loading weights: 100%|██████████| 272/272 [00:00<00:00, 632.76it/s]",
    "/x/modeling_utils.py:3303: FutureWarning: `is_gradient_checkpointing` is deprecated",
    "  warnings.warn(",
    "step 4/10 · loss 1.234",
    "ValueError: a real problem, shown",
]


def test_noise_is_left_out_and_problems_stay():
    kept, hidden = for_reading(RAW)
    assert kept == [RAW[0], "step 4/10 · loss 1.234", "ValueError: a real problem, shown"]
    assert hidden == 4
    assert for_reading([]) == ([], 0)
