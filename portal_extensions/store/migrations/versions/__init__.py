"""Store schema revisions (Alembic); a package so wheels ship them."""
