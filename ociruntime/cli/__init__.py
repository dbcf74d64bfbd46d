"""Command-line front end (runc-compatible)."""
