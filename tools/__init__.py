"""Maintenance scripts for the book (not part of the helper package)."""
