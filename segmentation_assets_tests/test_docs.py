"""The documentation site builds strictly, and its generated pages come from the code.

Runs the generator script (``docs/gen/gen_pages.py``) and ``mkdocs build --strict`` into temporary
folders, exactly as ``make docs`` does, and checks that the traits page lists every trait of the
registry and the asset-graph page names all seven stages.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from segmentation_assets.jobs import STAGE_KEYS
from segmentation_assets.traits import TRAITS

REPO_ROOT = Path(__file__).resolve().parent.parent
GENERATOR = REPO_ROOT / "docs" / "gen" / "gen_pages.py"
STAGES = STAGE_KEYS
#: Generous: the build takes well under a minute; this only stops a hung build.
TIMEOUT_SECONDS = 300


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["NO_MKDOCS_2_WARNING"] = "1"  # Material's end-of-life banner, not a build warning
    return env


def _check(result: subprocess.CompletedProcess[str], what: str) -> None:
    assert result.returncode == 0, (
        f"{what} failed with exit code {result.returncode}\n"
        f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-4000:]}"
    )


def test_generator_and_strict_build(tmp_path: Path) -> None:
    generated = tmp_path / "generated"
    site = tmp_path / "site"
    # Both commands are independent; run them side by side to halve the wall time.
    generator = subprocess.Popen(
        [sys.executable, str(GENERATOR), "--out", str(generated)],
        cwd=REPO_ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )
    stdout, stderr = generator.communicate(timeout=TIMEOUT_SECONDS)
    _check(
        subprocess.CompletedProcess(generator.args, generator.returncode, stdout, stderr),
        "docs/gen/gen_pages.py",
    )
    _check(build, "mkdocs build --strict")

    # The generator's own output.
    traits_md = (generated / "reference" / "traits.md").read_text(encoding="utf-8")
    graph_md = (generated / "architecture" / "asset-graph.md").read_text(encoding="utf-8")
    missing_traits = [t.name for t in TRAITS if f"`{t.name}`" not in traits_md]
    assert not missing_traits, f"traits page lacks: {missing_traits}"
    missing_assets = [s for s in STAGES if f"`{s}`" not in graph_md]
    assert not missing_assets, f"asset-graph page lacks: {missing_assets}"
    assert "```mermaid" in graph_md
    for stage in STAGES:
        assert f'{stage}["' in graph_md, f"no mermaid node for {stage}"

    # The built site: the same pages, rendered.
    traits_html = (site / "reference" / "traits" / "index.html").read_text(encoding="utf-8")
    graph_html = (site / "architecture" / "asset-graph" / "index.html").read_text(encoding="utf-8")
    missing_traits = [t.name for t in TRAITS if f"<code>{t.name}</code>" not in traits_html]
    assert not missing_traits, f"built traits page lacks: {missing_traits}"
    for trait in TRAITS:  # the definition itself, not only the name
        assert trait.label in traits_html, f"built traits page lacks the label of {trait.name}"
    missing_assets = [s for s in STAGES if f"<code>{s}</code>" not in graph_html]
    assert not missing_assets, f"built asset-graph page lacks: {missing_assets}"
    assert 'class="mermaid"' in graph_html

    # Every generated-table marker was expanded, and the API reference was rendered.
    leftovers = [
        str(page.relative_to(site))
        for page in site.rglob("*.html")
        if "<!-- gen:" in page.read_text(encoding="utf-8")
    ]
    assert not leftovers, f"unexpanded generated-table markers in {leftovers}"
    traits_api = (site / "api" / "traits" / "index.html").read_text(encoding="utf-8")
    assert "segmentation_assets.traits.Trait" in traits_api


def test_catalog_entry_points_at_the_docs() -> None:
    entry = yaml.safe_load((REPO_ROOT / "catalog-info.yaml").read_text(encoding="utf-8"))
    assert entry["apiVersion"] == "backstage.io/v1alpha1"
    assert entry["kind"] == "Component"
    assert entry["metadata"]["annotations"]["backstage.io/techdocs-ref"] == "dir:."
    spec = entry["spec"]
    assert spec["type"] in ("service", "library")
    assert spec["lifecycle"] == "experimental"
    assert spec["owner"] == "team:marketing-analytics"
    assert (REPO_ROOT / "mkdocs.yml").is_file()
