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
        fp=lambda w: fingerprint(PARAMS.datasets, PARAMS.variants, PARAMS.report),
    log:
        "logs/report.log",
    conda:
        ENV
    shell:
        "pmtiqa report > {log} 2>&1"
