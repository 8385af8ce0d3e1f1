"""The service process: cases, SLA clocks and alerts, service metrics, surveys, care follow-ups, score signals."""
