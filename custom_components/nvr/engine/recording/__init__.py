"""Recording: the recorder, its files, the index, the archive, retention and export."""
