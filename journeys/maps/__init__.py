"""Journey maps: stages and touchpoints (services), the per-customer rollups, analytics and the CSV/SVG reports."""
