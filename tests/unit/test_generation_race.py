"""The deployment counter's row is made by the first change of a database: two first changes at
once, on PostgreSQL, must both commit (the second used to fail on pk_deploy_state: a 500)."""

from __future__ import annotations

import threading

from servers import Backend

from assethost.store.meta import MetaStore


def test_two_first_bumps_at_once_both_commit():
    backend = Backend("postgres")
    backend.check()
    url, name = backend.create_database()
    meta = MetaStore(url)
    try:
        meta.migrate()
        second_done = threading.Event()
        results: list[object] = []

        def second() -> None:
            try:
                with meta.write() as tx:
                    results.append(tx.bump_generation())  # waits on the first one's new row
            except Exception as exc:  # noqa: BLE001 - the failure is what this test looks for
                results.append(exc)
            second_done.set()

        with meta.write() as tx:
            assert tx.bump_generation() == 1  # the row, not yet committed
            thread = threading.Thread(target=second)
            thread.start()
            assert not second_done.wait(1.0)  # blocked on the row until this transaction ends
        thread.join(timeout=10)
        assert results == [2]
        with meta.read() as tx:
            assert tx.generation() == 2
    finally:
        meta.dispose()
        backend.drop_database(name)
