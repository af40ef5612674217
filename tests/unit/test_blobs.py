"""The blob store's temporary files: disk errors become StorageError (full or not, no path), a
failed write leaves no temporary file (nor a variant under its name), and sweep removes only what
no live writer holds."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
import time

import pytest

from assethost.core.errors import StorageFull, StorageUnavailable, storage_refusal
from assethost.core.ports import StorageError
from assethost.store.blobs import local as blobs_module
from assethost.store.blobs.local import LocalBlobStore


@pytest.fixture
def store(tmp_path):
    return LocalBlobStore(tmp_path / "blobs")


def _failing(code: int):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code), "/srv/secret/place")

    return fail


@pytest.mark.parametrize(("code", "full"), [(errno.ENOSPC, True), (errno.EDQUOT, True), (errno.EFBIG, True),
                                            (errno.EROFS, False), (errno.EACCES, False), (errno.EIO, False)])
def test_write_errors_say_full_or_not_and_leave_no_file(store, monkeypatch, code, full):
    writer = store.writer(1000)
    monkeypatch.setattr(blobs_module.os, "write", _failing(code))
    with pytest.raises(StorageError) as caught:
        writer.write(b"x" * 10)
    assert caught.value.full is full
    assert "/srv" not in str(caught.value)
    writer.abort()
    assert list(store.tmp_dir.iterdir()) == []
    mapped = storage_refusal(caught.value)
    assert isinstance(mapped, StorageFull if full else StorageUnavailable)
    assert (mapped.status, mapped.code) == ((507, 20507) if full else (503, 20503))
    assert "/srv" not in mapped.message


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.ENOSPC])
def test_errors_creating_the_temporary_file(store, monkeypatch, code):
    monkeypatch.setattr(blobs_module.os, "open", _failing(code))
    with pytest.raises(StorageError) as caught:
        store.writer(1000)
    assert caught.value.full is (code == errno.ENOSPC)


def test_errors_at_commit_leave_no_file(store, monkeypatch):
    writer = store.writer(1000)
    writer.write(b"abc")
    monkeypatch.setattr(blobs_module.os, "fsync", _failing(errno.EIO))
    with pytest.raises(StorageError):
        writer.commit()
    writer.abort()
    assert list(store.tmp_dir.iterdir()) == []
    assert not store.exists("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def _age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_sweep_removes_only_old_files_no_writer_holds(store):
    abandoned = store.tmp_dir / "upload-abandoned"
    abandoned.write_bytes(b"x" * 100)
    _age(abandoned, 3600)
    fresh = store.tmp_dir / "upload-fresh"  # a writer may be about to lock it
    fresh.write_bytes(b"y")
    live = store.writer(1000)
    live.write(b"still coming")
    live_file = next(p for p in store.tmp_dir.iterdir() if p not in (abandoned, fresh))
    _age(live_file, 3600)  # idle for long, but its writer still holds it
    (store.tmp_dir / "a-folder").mkdir()
    _age(store.tmp_dir / "a-folder", 3600)

    assert store.sweep() == (1, 100)
    assert sorted(p.name for p in store.tmp_dir.iterdir()) == sorted(["upload-fresh", live_file.name, "a-folder"])
    digest, size = live.commit()  # the live upload is stored whole
    assert store.read(digest) == b"still coming" and size == 12


def test_a_writer_dropped_without_abort_is_swept(store):
    writer = store.writer(1000)
    writer.write(b"lost")
    os.close(writer._fd)  # what a crash does to the lock
    writer._fd = None
    (path,) = store.tmp_dir.iterdir()
    _age(path, 3600)
    assert store.sweep() == (1, 4)


def test_commit_all_stores_every_blob_once_and_leaves_no_temporary_file(store):
    contents = [b"one", b"two", b"one", b""]
    writers = []
    for data in contents:
        w = store.writer(10)
        w.write(data)
        writers.append(w)
    assert writers[1].digest() == hashlib.sha256(b"two").hexdigest()  # known before the commit
    placed = store.commit_all(writers)
    assert placed == [(hashlib.sha256(d).hexdigest(), len(d)) for d in contents]
    assert [store.read(digest) for digest, _ in placed] == contents
    assert list(store.tmp_dir.iterdir()) == []
    for w in writers:
        w.abort()  # a no-op once committed
    assert all(store.exists(digest) for digest, _ in placed)


def test_commit_all_refuses_what_is_not_one_of_its_writers(store):
    writer = store.writer(1)

    class Foreign:
        pass

    with pytest.raises(TypeError):
        store.commit_all([writer, Foreign()])
    writer.abort()
    assert list(store.tmp_dir.iterdir()) == []


def test_put_variants_stores_each_whole_and_leaves_no_temporary_file(store):
    one, two = hashlib.sha256(b"one").hexdigest(), hashlib.sha256(b"two").hexdigest()
    store.put_variants([(one, "br", b"br of one"), (one, "gzip", b"gz of one"), (two, "br", b"br of two")])
    assert [store.variant_path(one, "br").read_bytes(), store.variant_path(one, "gzip").read_bytes(),
            store.variant_path(two, "br").read_bytes()] == [b"br of one", b"gz of one", b"br of two"]
    assert store.variant_path(two, "gzip") is None
    store.put_variants([(two, "gzip", b"gz of two")])  # one alone: fsynced by itself
    assert store.variant_path(two, "gzip").read_bytes() == b"gz of two"
    assert list(store.tmp_dir.iterdir()) == []


# Run in a child process: a file-size limit (RLIMIT_FSIZE) makes the kernel refuse the third
# variant's write with EFBIG, part-way, as a full disk would.
_FAILING_DISK = """
import resource, signal, sys
from pathlib import Path
from assethost.core.ports import StorageError
from assethost.store.blobs.local import LocalBlobStore
store = LocalBlobStore(Path(sys.argv[1]))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    store.put_variants([("a" * 64, "br", b"x" * 1000), ("a" * 64, "gzip", b"y" * 1000), ("b" * 64, "br", b"z" * 10000)])
except StorageError as exc:
    print("refused", exc.full)
"""


def test_a_disk_failing_during_put_variants_leaves_no_variant_visible(store, tmp_path):
    (store.root / "aa" / "aa").mkdir(parents=True)  # the blobs' folders, as beside real blobs
    (store.root / "bb" / "bb").mkdir(parents=True)
    done = subprocess.run([sys.executable, "-c", _FAILING_DISK, str(store.root)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert (done.returncode, done.stdout) == (0, "refused True\n"), done.stderr
    # Not even the two complete ones: nothing is renamed into place before the whole batch is durable.
    assert [store.variant_path(d * 64, e) for d in "ab" for e in ("br", "gzip")] == [None] * 4
    assert list(store.tmp_dir.iterdir()) == []
