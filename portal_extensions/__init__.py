"""What members and staff see and do: the portal, the store, sync, outbox, access policy."""
