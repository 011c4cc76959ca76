"""Background work in one loop (`worker.Worker`): sync, outbox dispatch and CRM push events.

Run by `caseload worker`, by `caseload serve` in a thread (unless `--no-worker`) and by the
demo. Import the parts from their modules (`portal_extensions.jobs.worker`, `.locks`).
"""
