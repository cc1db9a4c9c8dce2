"""params.yaml -> typed, checked settings, on one path: the schema, the file loaded and checked, a
dataset's view of it, one run's settings.
"""
