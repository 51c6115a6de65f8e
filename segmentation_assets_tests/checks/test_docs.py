"""docs/checks.md lists every check, and says 'blocks: yes' exactly for the blocking ones."""

from __future__ import annotations

import re
from pathlib import Path

from segmentation_assets.checks import ALL_CHECKS

DOC = Path(__file__).resolve().parents[2] / "docs" / "checks.md"
ROW = re.compile(r"^\| `(?P<asset>[a-z_]+)` \| `(?P<check>[a-z_]+)` \|.*\| (?P<blocks>[^|]+) \|$")


def test_every_check_is_documented_with_its_blocking() -> None:
    documented = {}
    for line in DOC.read_text().splitlines():
        match = ROW.match(line)
        if match:
            documented[(match["asset"], match["check"])] = match["blocks"].strip().startswith("yes")
    in_code = {
        (spec.asset_key.to_user_string(), spec.name): spec.blocking
        for checks_def in ALL_CHECKS
        for spec in checks_def.check_specs
    }
    assert documented == in_code
