"""The Dataset panel."""
