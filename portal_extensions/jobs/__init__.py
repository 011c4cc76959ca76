"""Background work in one loop (`worker.Worker`): sync, outbox dispatch and CRM push events.

Run by `caseload worker`, by `caseload serve` in a thread (unless `--no-worker`) and by the
demo. The parts live in their modules: `worker` (the loop, `locked_sync`), `dispatch` (the
outbox dispatcher), `refresh` (pushed-case refreshes), `store.locks` holds the store-wide sync lock.
"""
