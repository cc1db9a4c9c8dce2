"""Scoring with a trained model: the Python API behind pmtiqa.load, `pmtiqa predict`, and the cross-
dataset stage.
"""
