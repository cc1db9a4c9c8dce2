# Training, one job per (dataset, variant, split), and the aggregation of a pair's splits.

localrules:
    evaluate,


# checkpoint.pt is not an output, so a killed job resumes from its last epoch when rerun.
rule train:
    """Train one variant on one split and test it: runs/train/<dataset>/<variant>/split<k>/."""
    input:
        cache="data/cache/{dataset}",
        splits="data/splits/{dataset}.json",
        tuned="runs/tune/{dataset}/best.json",
    output:
        metrics="runs/train/{dataset}/{variant}/split{k}/metrics.json",
        history="runs/train/{dataset}/{variant}/split{k}/history.csv",
        predictions="runs/train/{dataset}/{variant}/split{k}/predictions.csv",
        model="runs/train/{dataset}/{variant}/split{k}/model.pt",
        run="runs/train/{dataset}/{variant}/split{k}/run.json",
    params:
        settings=settings("model", "loss", "train", "split"),
        code=code("train"),
    threads: DEVICE_THREADS
    resources:
        gpu=1,
    log:
        "logs/train/{dataset}/{variant}/split{k}.log",
    conda:
        ENV
    shell:
        "python -m pmtiqa train --dataset {wildcards.dataset} --variant {wildcards.variant} --split {wildcards.k}"
        " > {log} 2>&1"


rule evaluate:
    """Gather a variant's splits into metrics/<dataset>/<variant>.json: each split, median, IQR."""
    input:
        metrics=lambda w: split_files(w.dataset, w.variant, "metrics.json"),
    output:
        "metrics/{dataset}/{variant}.json",
    params:
        settings=settings("split"),
        code=code("evaluate"),
    log:
        "logs/evaluate/{dataset}/{variant}.log",
    conda:
        ENV
    shell:
        "python -m pmtiqa evaluate --dataset {wildcards.dataset} --variant {wildcards.variant} > {log} 2>&1"
