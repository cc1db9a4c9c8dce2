# The stage graph (docs/engines.md) for Snakemake: the same `python -m pmtiqa <command>` calls on the same
# paths as dvc.yaml, but per split, so that one target builds alone and independent jobs run in parallel:
#
#   snakemake                                               # everything params.yaml selects
#   snakemake runs/train/livec/ms_pmt/split3/metrics.json   # one training run (and what it needs)
#   snakemake --workflow-profile slurm                      # on a SLURM cluster (profiles/slurm)
#
# profiles/default/ is loaded automatically (Snakemake looks for profiles/default next to the
# Snakefile). params.yaml is the config; the rules call pmtiqa, which reads params.yaml itself.
from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


include: "workflow/rules/common.smk"


# `snakemake --report report.html`: this page, then the report rule's figures and tables.
report: "workflow/report/workflow.rst"


# Wildcards match only names pmtiqa knows, so that paths never parse ambiguously.
wildcard_constraints:
    dataset="|".join(PARAMS.known_datasets),
    variant="|".join(VARIANTS),
    k=r"\d+",


include: "workflow/rules/data.smk"
include: "workflow/rules/tune.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"


# Everything the report reads, besides the report: Snakemake keeps an existing output whose inputs
# are missing (the report of another selection, or one DVC wrote), so asking for the report alone
# would plan nothing after `datasets` changes.
rule all:
    """Everything params.yaml selects: every run the report reads, and the report."""
    default_target: True
    input:
        report_inputs,
        rules.report.output,
