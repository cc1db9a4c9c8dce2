"""Where and how the network computes: the runtime (device, precision, threads), a dataset on the
device, crops, CUDA graphs, scores over test crops, model files.
"""
