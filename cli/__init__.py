"""The administrators' `caseload` command (typer): calls the other rooms, holds no rules."""
