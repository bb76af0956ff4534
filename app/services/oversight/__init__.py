"""Supervision (督办), charts, the monthly report and security inspections."""
