# The report over the datasets and variants that params.yaml selects.

localrules:
    report,


rule report:
    input:
        runs=report_inputs,
        code=REPORT_CODE,
    output:
        reports=directory("reports"),
        summary="metrics.json",
    params:
        # exactly what `pmtiqa report` reads, as dvc.yaml's report stage lists it: the selection, the
        # report section, and each dataset's REPORT_SETTINGS (its overrides applied)
        fp=lambda w: fingerprint(PARAMS.datasets, PARAMS.variants, PARAMS.report,
                                 [[PARAMS.for_dataset(ds).setting(key) for key in REPORT_SETTINGS]
                                  for ds in PARAMS.datasets]),
    log:
        "logs/report.log",
    conda:
        ENV
    shell:
        "pmtiqa report > {log} 2>&1"
