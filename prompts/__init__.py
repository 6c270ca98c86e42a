"""Prompt files, versioned and loaded as package data. This package imports nothing of the project.

The answer and drafting prompts arrive with the answering and drafting work; the folder exists now
so that the package layout (and its package-data rule in pyproject.toml) is fixed.
"""
