"""`caseload demo`: the embedded-defaults demo."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def demo() -> None:
        """Start the demo on the embedded defaults and print its address."""
        typer.echo("demo: not yet available")
