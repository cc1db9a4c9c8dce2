"""What every floor uses and none of the method: errors and the one place they become an exit status,
atomic writes, readers of the stages' files, the graph's paths, checksums, logs, progress bars,
child processes, the torchvision import.
"""
