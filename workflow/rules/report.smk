# The report over the datasets and variants that params.yaml selects.

localrules:
    report,


rule report:
    input:
        report_inputs,
    output:
        reports=directory("reports"),
        summary="metrics.json",
    params:
        # what `pmtiqa report` reads, as dvc.yaml's report stage lists it: the selection, the report
        # section, and each dataset's split count, model and train settings (its overrides applied)
        fp=lambda w: fingerprint(PARAMS.datasets, PARAMS.variants, PARAMS.report,
                                 *(getattr(computed_params(ds), s) for ds in PARAMS.datasets
                                   for s in ("split", "model", "train"))),
    log:
        "logs/report.log",
    conda:
        ENV
    shell:
        "pmtiqa report > {log} 2>&1"
