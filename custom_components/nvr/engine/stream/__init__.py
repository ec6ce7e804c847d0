"""Streams: sources, opening and probing, readers, the GOP buffer and packet sinks."""
