"""The built-in dataset loaders, one module per kind of source.

- :mod:`~kerastricks.data.sources.embedded`: ``mnist1d``, ``digits`` (no download);
- :mod:`~kerastricks.data.sources.keras_datasets`: ``mnist``, ``fashion_mnist``,
  ``cifar10``, ``cifar100`` (Keras cache or download);
- :mod:`~kerastricks.data.sources.files`: ``npz:PATH``, ``csv:PATH``, ``folder:PATH``.

:data:`kerastricks.data.DATASETS` names them; a module is imported the first time
one of its datasets is used.
"""
