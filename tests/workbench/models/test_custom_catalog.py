"""Models of the user's own in catalog.json: prepared from their wheel, problems named by file, entry, field."""

import hashlib
import json
import shutil
from pathlib import Path

from workbench import paths
from workbench.models import catalog
from workbench.models.loading import resolve_base

MEMBER = "llm_tiny/tiny-llama.F32.gguf"  # conftest.TINY_GGUF_MEMBER


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _write_catalog(entries) -> Path:
    path = catalog.custom_catalog_path()
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def test_a_model_of_your_own_from_catalog_json_prepares_from_its_wheel_file(fake_wheel):
    shutil.copyfile(fake_wheel, paths.home() / fake_wheel.name)  # relative to catalog.json
    _write_catalog(
        [
            {
                "name": "acme-tiny",
                "wheel": fake_wheel.name,
                "wheel_sha256": _sha(fake_wheel),
                "member": MEMBER,
                "title": "ACME tiny",
                "licence": "proprietary",
                "parameters": 123,
            }
        ]
    )
    assert catalog.custom_entries() == (catalog.custom_entries()[0], [])
    item = catalog.entry("acme-tiny")
    assert (item.title, item.licence, item.parameters) == ("ACME tiny", "proprietary", 123)
    assert item.sources[0].spec == "llm-tiny==0.0.1" and item.sources[0].location == str(paths.home() / fake_wheel.name)
    assert catalog.names()[-1] == "acme-tiny"
    assert catalog.status("acme-tiny") == "absent"

    path = catalog.prepare("acme-tiny")  # the real fetch: a copy of the local wheel, hash checked
    assert catalog.status("acme-tiny") == "ready" and resolve_base("acme-tiny") == str(path)
    assert json.loads((path / "manifest.json").read_text())["source_sha256"] == _sha(fake_wheel)


def test_catalog_json_problems_name_the_file_entry_and_field_and_leave_the_rest(fake_wheel):
    good = {"name": "ok-model", "wheel": str(fake_wheel), "wheel_sha256": _sha(fake_wheel), "member": MEMBER}
    path = _write_catalog(
        [
            good,
            {"name": "demo", "wheel": str(fake_wheel), "wheel_sha256": _sha(fake_wheel), "member": MEMBER},
            {"name": "Bad Name", "wheel": str(fake_wheel), "wheel_sha256": _sha(fake_wheel), "member": MEMBER},
            {"name": "no-hash", "wheel": str(fake_wheel), "member": MEMBER},
            {"name": "short-hash", "wheel": str(fake_wheel), "wheel_sha256": "abc", "member": MEMBER},
            {"name": "not-a-wheel", "wheel": "/tmp/model.zip", "wheel_sha256": "0" * 64, "member": MEMBER},
            ["not", "an", "object"],
        ]
    )
    taken = {"demo"}
    entries, problems = catalog.custom_entries(taken)
    assert [e.name for e in entries] == ["ok-model"]
    assert problems == [
        f"{path}: entry 2: name: 'demo' is already in the catalogue; choose another name.",
        f"{path}: entry 3: name: 'Bad Name' — use lowercase letters, digits, '.', '_' and '-' (64 at most).",
        f"{path}: entry 4: wheel_sha256: missing.",
        f"{path}: entry 5: wheel_sha256: must be the 64 hex digits of the wheel's sha256.",
        f"{path}: entry 6: wheel: 'model.zip' is not a wheel file name (package-version-...whl).",
        f"{path}: entry 7: must be an object with name, wheel, wheel_sha256 and member.",
    ]
    assert "ok-model" in catalog.names() and catalog.names().count("demo") == 1

    path.write_text("{not json", encoding="utf-8")
    entries, problems = catalog.custom_entries()
    assert entries == [] and problems[0].startswith(f"{path}: not readable as JSON")
    assert "demo" in catalog.names()  # the built-in catalogue is unaffected
