"""llama.cpp's own conversion code, fetched from a pinned registry package and cached at first use.

The llama-cpp-python source distribution on PyPI carries llama.cpp's `convert_hf_to_gguf.py`,
`convert_lora_to_gguf.py`, their `conversion/` package and the matching `gguf-py`. `converter()` downloads
that sdist once with pip (so a user's index or proxy settings apply), checks its sha256, extracts only those
files into the cache and returns the folder. Nothing of it is copied into this repository.

`run_converter(script, args, progress)` runs one of the scripts in a child process through
`workbench.publish.convert_child`, streaming its log lines.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from workbench import paths
from workbench.publish.merge import PublishError

LLAMA_CPP_PYTHON = "0.3.36"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
SDIST_NAME = f"llama_cpp_python-{LLAMA_CPP_PYTHON}.tar.gz"
VENDORED = "vendor/llama.cpp/"
WANTED = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "conversion/", "gguf-py/", "LICENSE")
MODEL_SCRIPT = "convert_hf_to_gguf.py"
ADAPTER_SCRIPT = "convert_lora_to_gguf.py"
DOWNLOAD_TIMEOUT = 600

Progress = Callable[[str], None]


def converter_dir() -> Path:
    return paths.converter_cache_root() / f"llama.cpp-{LLAMA_CPP_PYTHON}"


def converters_ready() -> bool:
    """Whether the converters are cached here (GGUF export then needs no network)."""
    return all((converter_dir() / script).is_file() for script in (MODEL_SCRIPT, ADAPTER_SCRIPT))


def missing_note() -> str | None:
    """What the Publish page says before an export when the converters are not here yet; None when they are."""
    if converters_ready():
        return None
    return (
        f"llama.cpp's converters are not on this machine yet: the first GGUF export fetches them once "
        f"(llama-cpp-python=={LLAMA_CPP_PYTHON} source, about 80 MB, from your package index), so it needs the "
        "network then. `make run` fetches them at set-up while the machine is online."
    )


def converter(progress: Progress | None = None) -> Path:
    """The folder with llama.cpp's converters, fetched and unpacked on first use."""
    say = progress or (lambda message: None)
    target = converter_dir()
    if converters_ready():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llama-cpp-sdist-", dir=target.parent) as scratch:
        say(f"Fetching llama.cpp's converters (llama-cpp-python {LLAMA_CPP_PYTHON} source, about 80 MB, once)…")
        sdist = _download(Path(scratch))
        say("Unpacking the converters…")
        building = target.parent / f".{target.name}.building-{uuid.uuid4().hex[:8]}"
        try:
            _extract(sdist, building)
            if target.exists():  # another process finished first: keep theirs
                return target
            os.rename(building, target)
        finally:
            shutil.rmtree(building, ignore_errors=True)
    say(f"Converters cached in {target}.")
    return target


def _download(folder: Path) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--disable-pip-version-check",
        "-d",
        str(folder),
        f"llama-cpp-python=={LLAMA_CPP_PYTHON}",
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise PublishError(_cannot_fetch(f"the download took longer than {DOWNLOAD_TIMEOUT} s")) from exc
    sdist = folder / SDIST_NAME
    if result.returncode != 0 or not sdist.is_file():
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise PublishError(_cannot_fetch(detail[-1] if detail else f"pip exited with {result.returncode}"))
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise PublishError(
            f"The downloaded {SDIST_NAME} does not match its pinned sha256 ({digest[:12]}… instead "
            f"of {SDIST_SHA256[:12]}…): refusing to run it. Check your package index or proxy."
        )
    return sdist


def _cannot_fetch(why: str) -> str:
    return (
        f"Could not fetch llama.cpp's converters (llama-cpp-python=={LLAMA_CPP_PYTHON} from your package "
        f"index): {why}. GGUF export needs them once; connect to PyPI (or set PIP_INDEX_URL to a mirror) and "
        f"try again, or put an unpacked copy of that sdist's {VENDORED} in {converter_dir()}."
    )


def _extract(sdist: Path, target: Path) -> None:
    """Only the converter files, and only plain files and folders inside the target."""
    target.mkdir(parents=True)
    with tarfile.open(sdist, "r:gz") as archive:
        for member in archive.getmembers():
            parts = member.name.split("/", 1)
            if len(parts) < 2 or not parts[1].startswith(VENDORED):
                continue
            relative = parts[1][len(VENDORED) :]
            if not relative or not any(relative == w or relative.startswith(w) for w in WANTED):
                continue
            destination = (target / relative).resolve()
            if not destination.is_relative_to(target.resolve()) or not (member.isfile() or member.isdir()):
                continue
            if member.isdir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            if source is None:  # not a regular file after all
                continue
            with source, open(destination, "wb") as out:
                shutil.copyfileobj(source, out)
    missing = [name for name in (MODEL_SCRIPT, ADAPTER_SCRIPT) if not (target / name).is_file()]
    if missing:
        raise PublishError(
            f"{SDIST_NAME} has no {VENDORED}{missing[0]}: the pinned version does not carry the "
            "converters this workbench expects."
        )


def run_converter(script: str, args: list[str], progress: Progress | None = None) -> None:
    """Run one of llama.cpp's converter scripts; raises PublishError with the last lines of its log."""
    say = progress or (lambda message: None)
    folder = converter(say)
    command = [sys.executable, "-m", "workbench.publish.convert_child", str(folder), script, *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
    tail: list[str] = []
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    ) as process:
        assert process.stdout is not None  # stdout=PIPE
        for line in process.stdout:
            line = line.rstrip()
            if line:
                tail = [*tail[-19:], line]
                if _worth_showing(line):
                    say(f"llama.cpp: {line}")
    if process.returncode != 0:
        text = "\n".join(tail)
        if "No space left on device" in text:
            raise PublishError("The disk filled up while writing the GGUF file: free some space and export again.")
        raise PublishError(f"llama.cpp's {script} failed (exit {process.returncode}). Its last lines:\n{text}")


def _worth_showing(line: str) -> bool:
    """Progress and problems, not the template dump, progress bars or the unknown-tokenizer banner."""
    if line.startswith("WARNING:hf-to-gguf:**") or line.rstrip(":") == "WARNING:hf-to-gguf":
        return False
    return line.startswith(("INFO:", "WARNING:", "ERROR:", "Traceback")) or "Error" in line
