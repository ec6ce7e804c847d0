"""Motion detection: zones, the luma detector, the event tracker and the per-channel worker."""
