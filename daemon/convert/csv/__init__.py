"""CSV reports: the head, the fast path, the careful path, the csv-module reader."""
