"""Clean data -> results: reliability, change, mixed-effects growth models (reads only ``data_clean/``)."""
