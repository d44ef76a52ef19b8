"""Data: sources and the catalog, downloads and archives, decoding, the uint8 array store, splits."""
