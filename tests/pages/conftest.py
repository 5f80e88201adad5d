from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def page(monkeypatch):
    """Open one page script (or app.py) with AppTest, from the repository root."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # nothing listens there

    def open_page(relative: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / relative), default_timeout=60)
        return at.run()

    return open_page
