"""What a reader of the report sees beyond report.md's words: the HTML page Snakemake's report shows
first (tables as tables, figures inlined), the test images each number rests on with the flag on
those too few to say much, and the paper's names only on the paper's backbone."""
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("matplotlib")  # the report's figures (absent on the GPU machine)

from pmtiqa.reporting import sample_size  # noqa: E402
from tests.builders.results import fabricate, make_params, report  # noqa: E402

WORKFLOW_RST = Path(__file__).parents[2] / "workflow" / "report" / "workflow.rst"
DATA_PNG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def test_the_page_holds_tables_and_inlined_figures(workdir):
    params = make_params()
    fabricate(params)
    report(params)
    page = (workdir / "reports/report.html").read_text(encoding="utf-8")
    assert page.startswith('<meta charset="utf-8">') and '<div class="pmtiqa-report">' in page
    assert page.count("<table>") >= 4 and "<th>variant</th>" in page
    images = DATA_PNG.findall(page)
    assert len(images) == 5 and 'src="figures/' not in page  # ablation, two curves, two scatters
    assert "\u2020" in page  # the flags survive the rendering
    # the style reaches nothing outside its wrapper
    style = page.split("<style>")[1].split("</style>")[0]
    assert all(rule.strip().startswith(".pmtiqa-report") for rule in style.split("}") if rule.strip())


def test_snakemake_s_first_page_renders_the_page(workdir):
    """workflow.rst as Snakemake 9 renders it (Jinja, then docutils' publish_parts): the raw page
    included from reports/report.html, not a literal block."""
    jinja2 = pytest.importorskip("jinja2")
    docutils_core = pytest.importorskip("docutils.core")
    params = make_params()
    fabricate(params)
    report(params)

    snakemake = SimpleNamespace(config={"datasets": ["synthetic", "livec"], "variants": ["baseline"]})
    text = jinja2.Template(WORKFLOW_RST.read_text()).render(snakemake=snakemake) + "\n.. _Figures: #\n.. _Tables: #\n"
    body = docutils_core.publish_parts(text, writer="html")["html_body"]
    assert "<table>" in body and len(DATA_PNG.findall(body)) == 5
    assert "<pre" not in body and "| variant |" not in body  # no Markdown left as text


def test_numbers_on_too_few_test_images_are_flagged_with_the_rule(workdir):
    params = make_params()
    fabricate(params, test_images=20)
    report(params)
    text = (workdir / "reports/report.md").read_text()
    assert "synthetic (20 test images in each of 5 splits" in text
    assert "Each split's numbers rest on its test part: 20 test images in each of 5 splits." in text
    assert "| `ms_pmt` | PMT-IQA | 0.890\u2020 (0.040) |" in text  # 0.89 on 20 images: +-0.1 is too narrow
    assert "sqrt(1.06/(n-3))" in text and "Fieller, Hartley and Pearson 1957" in text and "as few as 20 images" in text
    assert "| livec | 20 | PMT-IQA (`ms_pmt`) | 0.866 / 0.893 |" in text


def test_enough_test_images_carry_no_flag(workdir):
    params = make_params()
    fabricate(params, test_images=400)
    report(params)
    text = (workdir / "reports/report.md").read_text()
    assert "400 test images in each of 5 splits" in text and "\u2020" not in text


def test_the_paper_s_names_only_on_its_backbone(workdir):
    params = make_params()
    fabricate(params, backbone="cnn4")
    report(params)
    text = (workdir / "reports/report.md").read_text()
    assert "`baseline` (cnn4)" in text and "`ms_pmt` (PMT-IQA on cnn4)" in text and "ResNet50)" not in text
    assert "| `baseline` | cnn4 |" in text
    assert "| livec | 20 | cnn4 (`baseline`) | not comparable: cnn4, not the paper's ResNet-50 |" in text


@pytest.mark.parametrize("r, n, flagged", [(0.9, 21, False), (0.9, 20, True), (0.5, 232, False),
                                           (0.5, 231, True), (-0.5, 231, True), (0.0, 500, False)])
def test_the_flag_follows_the_interval_of_fisher_s_z(r, n, flagged):
    assert (sample_size.mark(r, n) == "\u2020") == flagged
    assert (sample_size.needed(abs(r)) <= n) == (not flagged)  # the size the footnote asks for agrees


def test_an_unknown_size_or_value_is_not_flagged():
    assert sample_size.mark(0.5, None) == "" and sample_size.mark(float("nan"), 10) == ""
    assert sample_size.half_width(0.5, 3) == float("inf")


def test_test_sizes_read_as_one_number_or_a_range():
    assert sample_size.sizes_range([50, 50, 50]) == "50" and sample_size.sizes_range([41, 60, 50]) == "41 to 60"
    assert sample_size.sizes_phrase([41, 60, 50]) == "41 to 60 test images per split (3 splits)"
