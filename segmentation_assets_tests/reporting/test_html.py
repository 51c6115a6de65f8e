"""The HTML report: sections, inline plots, no external references, no customer ids, escaping."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import markupsafe

from segmentation_assets.reporting import (
    FIRST_RUN_TEXT,
    K_FIXED_TEXT,
    SECTION_IDS,
    ReportData,
    build_report_json,
    write_html_report,
)
from segmentation_assets_tests.reporting.conftest import HOSTILE_NAME

IMG = re.compile(r'<img\b[^>]*\bsrc="([^"]*)"')
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_every_section_is_present(full_html: str) -> None:
    for section in SECTION_IDS:
        assert f'<section id="{section}">' in full_html
    positions = [full_html.index(f'<section id="{s}">') for s in SECTION_IDS]
    assert positions == sorted(positions)


def test_one_inline_png_per_plot(full_html: str) -> None:
    sources = IMG.findall(full_html)
    assert full_html.count("<img") == len(sources) == 8
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)


def test_self_contained(full_html: str, minimal_html: str) -> None:
    for page in (full_html, minimal_html):
        assert "http://" not in page and "https://" not in page
        assert "<script" not in page and "<link" not in page
        assert "url(" not in page and "@import" not in page
        assert all(src.startswith("data:") for src in IMG.findall(page))


def test_no_customer_ids(full_data: ReportData, full_html: str) -> None:
    assert "cust_" not in full_html
    assert not any(cid in full_html for cid in full_data.assignments["customer_id"])


def test_one_card_per_segment(full_data: ReportData, full_html: str) -> None:
    report = build_report_json(full_data)
    for segment_id in full_data.segments["segment_id"]:
        assert full_html.count(f'id="segment-{segment_id}"') == 1
    assert full_html.count('<article class="card') == len(full_data.segments)
    assert full_html.count('class="badge ready">production-ready<') == len(
        report["production_ready_segments"]
    )
    # seg_4 fails validation: its reasons are shown as caveats on its card.
    card = full_html[full_html.index('id="segment-seg_4"') :]
    caveats = card[card.index('class="caveats"') : card.index("</article>")]
    for reason in report["segments"][3]["validation"]["reasons"]:
        assert str(markupsafe.escape(reason)) in caveats
    # Registry labels, the play name and the confidence level appear on the cards.
    assert "Days since last activity" in full_html
    assert "VIP retention" in full_html
    assert 'class="badge conf-' in full_html


def test_empty_k_scores_and_migration_are_explained(minimal_html: str) -> None:
    k_section = minimal_html[minimal_html.index('<section id="k-selection">') :]
    k_section = k_section[: k_section.index("</section>")]
    assert K_FIXED_TEXT in k_section and "<img" not in k_section
    migration = minimal_html[minimal_html.index('<section id="migration">') :]
    migration = migration[: migration.index("</section>")]
    assert FIRST_RUN_TEXT in migration and "<img" not in migration
    assert minimal_html.count("<img") == 6


def test_text_is_escaped(minimal_html: str) -> None:
    assert HOSTILE_NAME not in minimal_html
    assert str(markupsafe.escape(HOSTILE_NAME)) in minimal_html


def test_deterministic_and_written(
    minimal_data: ReportData, minimal_html: str, tmp_path: Path
) -> None:
    path = write_html_report(minimal_data, tmp_path)
    assert path.name == "segmentation_report.html"
    assert path.read_text(encoding="utf-8") == minimal_html
    assert path.read_bytes() == minimal_html.encode("utf-8")  # the file is a second render


def test_a_prebuilt_report_and_plots_give_the_same_page(
    full_data: ReportData, full_html: str, tmp_path: Path
) -> None:
    # The report asset builds the JSON and the plots once and shares them.
    from segmentation_assets.reporting.html import report_plots

    path = write_html_report(
        full_data,
        tmp_path,
        report=build_report_json(full_data),
        plots=report_plots(full_data),
    )
    assert path.read_text(encoding="utf-8") == full_html
