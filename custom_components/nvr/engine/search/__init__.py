"""Smart search: the activity index (which cells of the picture moved, each second) and its queries."""
