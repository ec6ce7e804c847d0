"""Playback: recorded files as HLS playlists, and event clips."""
