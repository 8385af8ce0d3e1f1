"""Interactions: recording what customers did at touchpoints (services) and importing them from files (importer)."""
