"""Health, metrics, backup and the scheduler lease."""
