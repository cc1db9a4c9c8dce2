"""pmtiqa: a reproducible pipeline for PMT-IQA (progressive multi-task blind image quality assessment)."""

__version__ = "0.1.0"
