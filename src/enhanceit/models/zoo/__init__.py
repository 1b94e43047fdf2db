"""The model zoo, one module per family; :mod:`enhanceit.models.registry` lists them all."""
