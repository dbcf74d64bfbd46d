"""Helpers for the exec, terminal and hook integration tests (host-side programs and small utilities)."""
