"""What of a worker's log a user reads: the log as written, less the known-harmless noise of libraries.

The raw log file stays as it is (the app links it); only what pages show is cleaned. Each pattern is a
line that reads like a failure but is not one.
"""

from __future__ import annotations

import logging
import re

NOISE = (
    # bitsandbytes on a machine without its optional `kernels` package: CPU 4-bit kernels fall back, fine
    re.compile(r"^Failed to load CPU gemm_4bit_forward from kernels-community"),
    # deprecation notices from libraries, and the `warnings.warn(` line Python prints after each
    re.compile(r"(Future|Deprecation)Warning: "),
    re.compile(r"^\s+warnings\.warn\($"),
    # tqdm bars of weight loading, drawn with carriage returns
    re.compile(r"^Loading weights:"),
)


def is_noise(line: str) -> bool:
    return any(pattern.search(line) for pattern in NOISE)


def for_reading(lines: list[str]) -> tuple[list[str], int]:
    """(the lines a user reads, how many noise lines were left out)."""
    kept = [line for line in lines if not is_noise(line)]
    return kept, len(lines) - len(kept)


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not is_noise(record.getMessage())


def quiet_known_notices() -> None:
    """Keep bitsandbytes' kernel notice out of the server's and workers' own output. Set before bitsandbytes
    is imported (a logger exists by name before its module does); calling it twice adds nothing."""
    logger = logging.getLogger("bitsandbytes.backends.cpu.ops")
    if not any(isinstance(f, _DropNoise) for f in logger.filters):
        logger.addFilter(_DropNoise())
