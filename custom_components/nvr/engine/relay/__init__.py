"""The live relay: one camera connection per stream, served to any number of local viewers."""
