"""Logs as the user reads them: library noise left out, everything else kept in order."""

import subprocess
import sys

import pytest

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


def test_the_bitsandbytes_kernel_notice_is_kept_out_of_a_process_output():
    loud = subprocess.run([sys.executable, "-c", "import bitsandbytes"], capture_output=True, text=True, timeout=120)
    if "gemm_4bit_forward" not in loud.stderr:
        pytest.skip("this CPU has no AVX512-BF16: bitsandbytes prints no kernel notice to keep out")
    code = "from workbench.logs import quiet_known_notices; quiet_known_notices(); import bitsandbytes, peft"
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0, quiet.stderr
    assert "gemm_4bit_forward" not in quiet.stdout + quiet.stderr
