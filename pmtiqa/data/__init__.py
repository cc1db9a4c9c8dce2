"""The data stages, download -> prepare -> split -> augment, and a module per dataset (datasets/)."""
