# Cross-dataset evaluation, and the report over the datasets and variants that params.yaml selects.

localrules:
    report,


# Inference only: every selected dataset's models (cross.variants) score the other datasets' images.
rule cross:
    """Score each other selected dataset's images with every split's model of each dataset: metrics/cross/."""
    input:
        runs=cross_inputs,
    output:
        # the file the report reads; pmtiqa cross replaces the whole folder (with each pair's files)
        "metrics/cross/summary.json",
    params:
        # what it reads of params.yaml, as dvc.yaml's cross stage lists it
        settings=lambda w: {"datasets": PARAMS.datasets, "variants": PARAMS.variants,
                            "cross": PARAMS.section("cross")},
        code=code("cross"),
    threads: DEVICE_THREADS
    resources:
        gpu=1,
    log:
        "logs/cross.log",
    conda:
        ENV
    shell:
        "python -m pmtiqa cross > {log} 2>&1"


rule report:
    """Write the report of the selected datasets and variants: reports/report.md and report.html, its figures, metrics.json."""
    input:
        runs=report_inputs,
    output:
        # files, not directory("reports"): Snakemake would leave a .snakemake_timestamp in a folder
        # output, which DVC (whose output the folder also is) would take for a change of the report.
        # report(): what `snakemake --report report.html` shows (workflow/report/ holds the captions);
        # Markdown and JSON are offered there as downloads, the figures shown.
        *report_figures(),
        report=report("reports/report.md", caption="../report/report_md.rst", category="Tables"),
        # report.md rendered, figures inlined: the first page of `snakemake --report` (workflow.rst)
        page="reports/report.html",
        results=report("reports/results.html", caption="../report/results.rst", category="Tables"),
        summary=report("metrics.json", caption="../report/metrics_json.rst", category="Tables"),
    params:
        # what it reads of params.yaml, as dvc.yaml's report stage lists it
        settings=lambda w: {"datasets": PARAMS.datasets, "variants": PARAMS.variants,
                            "report": PARAMS.section("report")},
        code=code("report"),
    log:
        "logs/report.log",
    conda:
        ENV
    shell:
        "python -m pmtiqa report > {log} 2>&1"
