"""The evaluate and report stages: a variant's summary over splits, the statistics, tables, figures and
curves of the report, and where its numbers came from.
"""
