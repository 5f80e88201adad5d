"""What this machine offers: compute device and Ollama reachability. Quick, never blocks for long."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"


@dataclass(frozen=True)
class DeviceInfo:
    kind: str  # "cuda" or "cpu"
    name: str
    count: int = 0
    total_gb: float | None = None
    free_gb: float | None = None
    bf16: bool = False

    @property
    def label(self) -> str:
        if self.kind == "cpu":
            return f"CPU ({self.name})"
        many = f"{self.count}× " if self.count > 1 else ""
        return f"{many}{self.name} — {self.free_gb:.1f} of {self.total_gb:.1f} GB free"


def device_info() -> DeviceInfo:
    if not may_have_cuda():  # no NVIDIA driver: say so without importing torch (seconds, in the app's server)
        return DeviceInfo(kind="cpu", name=f"{os.cpu_count()} cores", bf16=cpu_has_native_bf16())
    import torch

    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info(0)
        return DeviceInfo(
            kind="cuda",
            name=torch.cuda.get_device_name(0),
            count=torch.cuda.device_count(),
            total_gb=total / 1e9,
            free_gb=free / 1e9,
            bf16=torch.cuda.is_bf16_supported(),
        )
    return DeviceInfo(kind="cpu", name=f"{os.cpu_count()} cores", bf16=cpu_has_native_bf16())


def may_have_cuda() -> bool:
    """False only where CUDA surely is not there: Linux without the NVIDIA driver loaded."""
    if not sys.platform.startswith("linux"):
        return True
    return Path("/proc/driver/nvidia/version").exists() or any(Path("/dev").glob("nvidia[0-9]*"))


def cpu_has_native_bf16() -> bool:
    """True when the CPU multiplies bf16 in hardware (AVX512-BF16 or AMX): bf16 autocast then pays off.

    Without it torch emulates bf16, so `auto` keeps fp32. Read from /proc/cpuinfo (Linux); elsewhere False.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def ollama_host() -> str:
    host = os.environ.get("OLLAMA_HOST", "").strip() or DEFAULT_OLLAMA_HOST
    if not host.startswith(("http://", "https://")):
        host = f"http://{host}"
    if host.count(":") < 2:
        host = f"{host}:11434"
    return host.rstrip("/")


@dataclass(frozen=True)
class OllamaStatus:
    host: str
    reachable: bool
    version: str | None = None
    error: str | None = None

    @property
    def label(self) -> str:
        if self.reachable:
            return f"Ollama {self.version} at {self.host}"
        return f"Ollama not reachable at {self.host} — start it with `ollama serve`"


def ollama_status(host: str | None = None, timeout: float = 0.5) -> OllamaStatus:
    host = (host or ollama_host()).rstrip("/")
    try:
        response = httpx.get(f"{host}/api/version", timeout=timeout)
        response.raise_for_status()
        return OllamaStatus(host=host, reachable=True, version=response.json().get("version", "?"))
    except (httpx.HTTPError, ValueError) as exc:
        return OllamaStatus(host=host, reachable=False, error=str(exc) or type(exc).__name__)
