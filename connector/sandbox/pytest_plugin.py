"""pytest plugin shipped with the package: sandbox CRM fixtures (filled in by the sandbox issue)."""
