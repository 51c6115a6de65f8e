"""Every ```python block of README.md runs exactly as written and does what its text says.

The blocks run in order in one namespace (as a reader pasting them into one notebook would), in a
temporary working directory, on an ephemeral Dagster instance.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from segmentation_assets.api import PipelineResult
from segmentation_assets.settings import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[str]:
    """The source of every ```python fenced block, in order."""
    return [match.group(1) for match in _PYTHON_BLOCK.finditer(text)]


def test_block_extraction() -> None:
    text = "intro\n```python\nx = 1\n```\n```bash\nls\n```\n```python\ny = 2\nz = 3\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = 2\nz = 3\n"]


def test_readme_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    for key in list(os.environ):
        if key.startswith("SEGMENTATION_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 2
    namespace: dict[str, object] = {"__name__": "__readme__"}
    results: list[PipelineResult] = []
    for number, source in enumerate(blocks, start=1):
        exec(compile(source, f"README.md python block {number}", "exec"), namespace)
        result = namespace.get("result")
        if isinstance(result, PipelineResult) and (not results or result is not results[-1]):
            results.append(result)
    # What the text promises. Block 1: quick_segmentation with exactly four segments.
    quick = results[0]
    assert len(quick.segments) == 4 and quick.summary.customers_profiled > 0
    assert list(namespace["top"].columns) == [  # type: ignore[attr-defined]
        "segment_id",
        "name",
        "size",
        "avg_predicted_clv",
    ]
    # Block 2: an EBQ export run, k from (3, 6), no report files, a kept warehouse, a PNG.
    exported = results[1]
    assert exported.data_source == f"ebq_export:{Path('ebq_export')}"
    assert 3 <= len(exported.segments) <= 6
    assert exported.report is None and exported.report_paths == {}
    assert (tmp_path / "segmentation.duckdb").is_file()
    assert (tmp_path / "segment_value.png").read_bytes().startswith(b"\x89PNG")
    json.dumps(namespace["exported"], allow_nan=False)
