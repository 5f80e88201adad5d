"""The publishes table: every Ollama publish and GGUF export, with how it ended."""

from workbench import store
from workbench.publish import records


def test_a_record_starts_finishes_with_merged_details_and_is_listed_per_run():
    db = store.open_db()
    for name in ("a", "b"):
        db.table("runs").insert({"name": name, "created": store.now()})
    first = records.start(1, "ollama:merged", "faq-bot", "http://h", "running", {"spec": {"name": "faq-bot"}})
    other = records.start(2, "gguf:q8_0", "/exports/x", "", "running", {})
    records.finish(first, "published", {"verification": {"agreed": 3}})
    row = records.get_record(first)
    assert row["status"] == "published" and row["name"] == "faq-bot"
    assert row["details"]["spec"] == {"name": "faq-bot"} and row["details"]["verification"] == {"agreed": 3}
    assert row["details"]["finished"] > 0
    assert [r["id"] for r in records.list_records()] == [other, first]  # newest first
    assert [r["id"] for r in records.list_records(1)] == [first]
    records.delete(first)
    assert [r["id"] for r in records.list_records()] == [other]
