"""Reporting: the tables pollsters publish (toplines with nets, banner tables, print reports)."""
