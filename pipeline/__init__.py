"""Raw study exports to validated, pseudonymised, scored data (``data_raw/`` -> ``data_clean/``)."""

__version__ = "0.1.0"
