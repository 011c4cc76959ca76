"""Background work in one loop (`worker.Worker`): sync, outbox dispatch and CRM push events.

Run by `caseload worker`, by `caseload serve` in a thread (unless `--no-worker`) and by the
demo. The parts live in their modules: `worker` (the loop, `locked_sync`), `sync` (the syncer),
`dispatch` (the outbox dispatcher), `refresh` (the queue of pushed-case refreshes) and `events`
(what a pushed event does to the index). Their SQL, and the store-wide lock that keeps two
syncs of one store apart (`store.locks`), live in `portal_extensions.store`.
"""
