"""The Edit panel."""
