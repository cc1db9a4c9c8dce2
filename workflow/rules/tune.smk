# Optuna inside the train part of one split (tune.split), once per dataset; never its test part.


# Only best.json is an output: Snakemake deletes a job's outputs before it reruns, and study.db
# must survive a kill so that the study resumes from its recorded trials (like DVC's persist).
rule tune:
    """Search lr, batch size and loss.gamma inside one split's train part: runs/tune/<dataset>/best.json."""
    input:
        cache="data/cache/{dataset}",
        splits="data/splits/{dataset}.json",
    output:
        "runs/tune/{dataset}/best.json",
    params:
        settings=settings("tune", "train", "model", "loss"),
        code=code("tune"),
    threads: DEVICE_THREADS
    resources:
        gpu=1,  # trials train models: a slot of the device (profiles set how many)
    log:
        "logs/tune/{dataset}.log",
    conda:
        ENV
    shell:
        "python -m pmtiqa tune --dataset {wildcards.dataset} > {log} 2>&1"
