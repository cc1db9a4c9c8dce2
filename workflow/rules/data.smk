# The dataset stages: download -> prepare -> split, and augment (the decoded, resized cache).

# Light jobs, and downloads need the network that cluster nodes often lack: run them where
# Snakemake runs.
localrules:
    download,
    prepare,
    split,


# No params trigger here, not even its code's: rerunning download would delete data/raw/<ds> first
# (Snakemake clears a job's outputs), and that may hold an archive's contents a user placed by hand.
rule download:
    """Fetch a dataset's images and published scores into data/raw/<dataset>."""
    output:
        directory("data/raw/{dataset}"),
    log:
        "logs/download/{dataset}.log",
    conda:
        ENV
    shell:
        "python -m pmtiqa download --dataset {wildcards.dataset} > {log} 2>&1"


rule prepare:
    """Read the raw dataset into one table, data/prepared/<dataset>/labels.csv: image, mos, score, group."""
    input:
        raw="data/raw/{dataset}",
    output:
        "data/prepared/{dataset}/labels.csv",
    params:
        code=code("prepare"),
    log:
        "logs/prepare/{dataset}.log",
    conda:
        ENV
    shell:
        "python -m pmtiqa prepare --dataset {wildcards.dataset} > {log} 2>&1"


rule split:
    """Draw the dataset's seeded train/test splits by group into data/splits/<dataset>.json."""
    input:
        labels="data/prepared/{dataset}/labels.csv",
    output:
        "data/splits/{dataset}.json",
    params:
        settings=settings("split"),
        code=code("split"),
    log:
        "logs/split/{dataset}.log",
    conda:
        ENV
    shell:
        "python -m pmtiqa split --dataset {wildcards.dataset} > {log} 2>&1"


rule augment:
    """Decode and resize every image once into the uint8 cache data/cache/<dataset>."""
    input:
        labels="data/prepared/{dataset}/labels.csv",
        raw="data/raw/{dataset}",
    output:
        directory("data/cache/{dataset}"),
    params:
        settings=settings("augment"),
        code=code("augment"),
    threads: WORKERS
    log:
        "logs/augment/{dataset}.log",
    conda:
        ENV
    shell:
        "python -m pmtiqa augment --dataset {wildcards.dataset} > {log} 2>&1"
