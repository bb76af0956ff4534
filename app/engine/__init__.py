"""SpiffWorkflow wrapper. Imports no Flask and no app.models."""
