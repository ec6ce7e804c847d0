"""Still images: snapshots from the held GOP, and the "No video signal" picture."""
