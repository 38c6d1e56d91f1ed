"""`flask` commands: set up the database, load questionnaires, accounts, invitations, simulation."""
from __future__ import annotations

from flask import Flask


def register_commands(app: Flask) -> None:
    """Attach the project's commands to ``flask``."""
