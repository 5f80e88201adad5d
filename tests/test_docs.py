"""The documentation states facts the code owns; these fail when the two drift apart."""

import re
from pathlib import Path

from workbench.training.config import describe_cpu_preset

ROOT = Path(__file__).resolve().parent.parent


def _flat(path: str) -> str:
    return re.sub(r"\s+", " ", (ROOT / path).read_text(encoding="utf-8"))


def test_the_readme_states_the_cpu_preset_as_the_code_has_it():
    assert f"the **CPU preset** is the default: {describe_cpu_preset()} (" in _flat("README.md")


def test_the_docs_link_to_each_other_and_to_files_that_exist():
    readme = _flat("README.md")
    for target in ("docs/ARCHITECTURE.md", "bench/README.md", "CONTRIBUTING.md"):
        assert f"]({target})" in readme and (ROOT / target).is_file()
    architecture = _flat("docs/ARCHITECTURE.md")
    for module in re.findall(r"`((?:[a-z_]+/)+[a-z_]+\.py)", architecture):
        found = [ROOT / module, ROOT / "workbench" / module]
        assert any(path.is_file() for path in found), f"docs/ARCHITECTURE.md names {module}, which does not exist"


def test_every_table_of_the_registry_is_in_the_data_model():
    from workbench import store

    db = store.open_db()
    architecture = _flat("docs/ARCHITECTURE.md")
    for table in db.table_names():
        assert f"| `{table}` |" in architecture, f"table {table} is missing from docs/ARCHITECTURE.md"
