"""The train stage: the trainer, one split's run and its files, a variant's splits in turn or at once,
the selections its metrics report.
"""
