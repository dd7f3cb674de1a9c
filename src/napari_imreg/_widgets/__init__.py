"""The dock widgets of the napari plugin (one module per manifest contribution)."""
