"""The tune stage: an Optuna study inside one split's train part, where it is stored, and the workers
that share it.
"""
