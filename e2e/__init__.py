"""End-to-end journeys: a real server on a fresh database, driven by Debian's chromium."""
