"""pmtiqa: a reproducible pipeline for PMT-IQA (progressive multi-task blind image quality assessment)."""

__version__ = "0.1.0"


def load(path, device=None, batch_size=16):
    """A trained model.pt as a scorer: ``load(path)(images)`` scores them (pmtiqa/scoring/api.py says how).
    Imported here lazily, so that `pmtiqa --help` does not wait for torch."""
    from pmtiqa.scoring.api import load as load_scorer

    return load_scorer(path, device, batch_size)
