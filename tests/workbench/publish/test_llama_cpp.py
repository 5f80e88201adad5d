"""llama.cpp's converters: fetched once from the pinned sdist, unpacked safely, run with a readable failure."""

import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from workbench.publish import llama_cpp
from workbench.publish.merge import PublishError

ROOT = "llama_cpp_python-0.3.36"


def _sdist(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_an_sdist_without_the_converters_is_refused(tmp_path):
    sdist = _sdist(tmp_path / "s.tar.gz", {f"{ROOT}/vendor/llama.cpp/README.md": b"x"})
    with pytest.raises(PublishError, match="has no vendor/llama.cpp/convert_hf_to_gguf.py"):
        llama_cpp._extract(sdist, tmp_path / "out")


def test_a_cached_converter_is_used_without_fetching(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    folder = llama_cpp.converter_dir()
    folder.mkdir(parents=True)
    for script in (llama_cpp.MODEL_SCRIPT, llama_cpp.ADAPTER_SCRIPT):
        (folder / script).write_text("")
    monkeypatch.setattr(llama_cpp, "_download", lambda scratch: pytest.fail("fetched again"))
    assert llama_cpp.converter() == folder and folder.parent == tmp_path


def _fake_converter(tmp_path, monkeypatch, body: str) -> None:
    folder = tmp_path / "llama.cpp"
    folder.mkdir()
    (folder / "fake.py").write_text(body)
    monkeypatch.setattr(llama_cpp, "converter", lambda say=None: folder)


def test_a_converter_that_works_passes_its_arguments(tmp_path, monkeypatch):
    out = tmp_path / "args.txt"
    _fake_converter(tmp_path, monkeypatch, "import sys\nopen(sys.argv[1], 'w').write(' '.join(sys.argv[2:]))\n")
    llama_cpp.run_converter("fake.py", [str(out), "--outtype", "f16"])
    assert out.read_text() == "--outtype f16"
    assert sys.executable  # the child runs under this interpreter


def test_only_progress_and_problems_are_shown():
    assert llama_cpp._worth_showing("INFO:hf-to-gguf:Exporting model")
    assert llama_cpp._worth_showing("ValueError: bad")
    assert not llama_cpp._worth_showing("WARNING:hf-to-gguf:**************")
    assert not llama_cpp._worth_showing("Writing: 100%|████|")


def test_a_converter_that_fails_reports_its_last_lines(monkeypatch, tmp_path):
    folder = tmp_path / "cache" / f"llama.cpp-{llama_cpp.LLAMA_CPP_PYTHON}"
    folder.mkdir(parents=True)
    (folder / llama_cpp.MODEL_SCRIPT).write_text(
        "import sys\nprint('INFO:hf-to-gguf:loading')\nprint('ERROR: unsupported architecture Foo')\nsys.exit(3)\n"
    )
    (folder / llama_cpp.ADAPTER_SCRIPT).write_text(
        "import sys\nprint('OSError: [Errno 28] No space left on device', file=sys.stderr)\nsys.exit(1)\n"
    )
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    lines = []
    with pytest.raises(PublishError, match=r"(?s)convert_hf_to_gguf.py failed \(exit 3\).*unsupported architecture"):
        llama_cpp.run_converter(llama_cpp.MODEL_SCRIPT, [], lines.append)
    assert lines == ["llama.cpp: INFO:hf-to-gguf:loading", "llama.cpp: ERROR: unsupported architecture Foo"]
    with pytest.raises(PublishError, match="disk filled up"):
        llama_cpp.run_converter(llama_cpp.ADAPTER_SCRIPT, [])


# ------------------------------------------------------------------------------- fetching the converters


def _fake_sdist(path: Path) -> Path:
    root = f"llama_cpp_python-{llama_cpp.LLAMA_CPP_PYTHON}/vendor/llama.cpp/"
    members = {
        root + "convert_hf_to_gguf.py": b"# model",
        root + "convert_lora_to_gguf.py": b"# adapter",
        root + "conversion/__init__.py": b"",
        root + "gguf-py/gguf/__init__.py": b"",
        root + "src/llama.cpp": b"// not needed",
        root + "conversion/../../../../escape.py": b"bad",
    }
    return _sdist(path, members)


def test_the_converters_are_fetched_once_with_pip_checked_and_only_they_are_unpacked(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    calls = []

    sdist = _fake_sdist(tmp_path / "published.tar.gz")

    def pip(command, **kwargs):
        calls.append(command)
        shutil.copyfile(sdist, Path(command[command.index("-d") + 1]) / llama_cpp.SDIST_NAME)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(llama_cpp.subprocess, "run", pip)
    monkeypatch.setattr(llama_cpp, "SDIST_SHA256", hashlib.sha256(sdist.read_bytes()).hexdigest())
    folder = llama_cpp.converter()
    assert folder == tmp_path / "cache" / f"llama.cpp-{llama_cpp.LLAMA_CPP_PYTHON}"
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == [
        "conversion/__init__.py",
        "convert_hf_to_gguf.py",
        "convert_lora_to_gguf.py",
        "gguf-py/gguf/__init__.py",
    ]
    assert not (tmp_path / "escape.py").exists() and not list((tmp_path / "cache").glob(".*"))
    assert calls[0][-1] == f"llama-cpp-python=={llama_cpp.LLAMA_CPP_PYTHON}" and "--no-binary" in calls[0]
    llama_cpp.converter()
    assert len(calls) == 1  # cached


def test_a_download_that_does_not_match_the_pinned_hash_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))

    def pip(command, **kwargs):
        _fake_sdist(Path(command[command.index("-d") + 1]) / llama_cpp.SDIST_NAME)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(llama_cpp.subprocess, "run", pip)
    with pytest.raises(PublishError, match="does not match its pinned sha256"):
        llama_cpp.converter()
    assert not llama_cpp.converter_dir().exists()


def test_no_package_index_gives_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(PublishError, match=r"Could not fetch llama.cpp's converters .*PIP_INDEX_URL"):
        llama_cpp.converter()
    assert not llama_cpp.converter_dir().exists()


# -------------------------------------------------------------------------------- pre-tokenizer naming
