"""Run the code examples of docs/architecture.md as written (so the page cannot drift)."""

from __future__ import annotations

import re
import types
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def example(name: str) -> str:
    """The python block after ``<!-- example: <name> -->`` in docs/architecture.md."""
    text = PAGE.read_text()
    match = re.search(rf"<!-- example: {name} -->\n```python\n(.*?)```", text, re.S)
    assert match, f"docs/architecture.md has no example {name!r}"
    return match.group(1)


def load_example(name: str) -> types.ModuleType:
    """Execute the example in a fresh module (registering what it registers)."""
    module = types.ModuleType(f"docs_example_{name}")
    exec(compile(example(name), f"{PAGE}#{name}", "exec"), module.__dict__)
    return module
