"""Filtering (pure): label/field selectors, namespace enrollment, per-resource policy."""
