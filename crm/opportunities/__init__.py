"""Opportunities: stages with checklists, moves, the pipeline board, the forecast."""
