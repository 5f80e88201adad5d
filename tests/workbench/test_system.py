"""What the machine offers, found without slowing the app down."""

import subprocess
import sys

import pytest

from workbench import paths, system


def test_without_the_nvidia_driver_the_device_is_found_without_importing_torch():
    if system.may_have_cuda():
        pytest.skip("a machine with the NVIDIA driver imports torch to ask CUDA")
    code = (
        "import sys; from workbench import system; info = system.device_info(); "
        "assert info.kind == 'cpu', info; assert 'torch' not in sys.modules, 'torch was imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=paths.REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_native_bf16_is_read_from_the_cpu_flags(monkeypatch, tmp_path):
    import builtins

    real_open = builtins.open
    flags = {"value": "fpu sse2 avx512f avx512_bf16"}

    def fake_open(path, *args, **kwargs):
        if str(path) == "/proc/cpuinfo":
            cpuinfo = tmp_path / "cpuinfo"
            cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags['value']}\n")
            return real_open(cpuinfo, *args, **kwargs)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    assert system.cpu_has_native_bf16() is True
    flags["value"] = "fpu sse2 avx2 amx_bf16"
    assert system.cpu_has_native_bf16() is True
    flags["value"] = "fpu sse2 avx2 avx512f"
    assert system.cpu_has_native_bf16() is False
