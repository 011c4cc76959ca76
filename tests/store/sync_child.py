"""A sync run in its own process, for the SIGKILL test (configured by CHILD_* variables)."""

from __future__ import annotations

import os

from connector.factory import build_client
from connector.settings import CRMSettings
from mappings import load_profile
from portal_extensions.jobs.sync import Syncer
from portal_extensions.store import Store


def main() -> None:
    settings = CRMSettings(
        kind="lagan",
        endpoint=os.environ["CHILD_FL"],
        auth_endpoint=os.environ["CHILD_FLAUTH"],
        allowed_hosts=["127.0.0.1"],
        username=os.environ["CHILD_USER"],
        password=os.environ["CHILD_PASSWORD"],
    )
    store = Store.open(os.environ["CHILD_DB_URL"], schema=os.environ["CHILD_DB_SCHEMA"] or None)
    Syncer(store, build_client(settings, shared=False), load_profile("lagan"), batch_size=5).run(
        full=True
    )


if __name__ == "__main__":
    main()
