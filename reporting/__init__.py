"""Rendering of the reports: Quarto sources in reports/, read only finished results."""
