"""The napari plugin: a dock widget (:mod:`.widget`) and sample data
(:mod:`.sample_data`). Only napari imports this package; ``import infocus``
needs neither napari nor Qt."""
