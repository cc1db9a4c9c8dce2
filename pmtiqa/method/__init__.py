"""The paper's method, with no I/O: the network, the progressive multi-task loss, the task schedules,
the variants, a score's two scales, the IQA metrics.
"""
