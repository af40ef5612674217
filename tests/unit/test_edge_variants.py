"""The edge in process with builds made by core (SQLite and a blob folder in a temporary folder):
it sends the variants the build stored, from memory within the budget and from their files past
it, and it runs no compressor of its own."""

from __future__ import annotations

import gzip
import threading
from pathlib import Path

import brotli
from worldkit import deploy, make_context

from assethost.config import EdgeOptions
from assethost.edge.runtime import Edge
from assethost.edge.snapshot import Snapshot, SnapshotLoader

CSS = b"body { color: red; }\n" * 400  # 8400 bytes


def _get(edge: Edge, domain: str, path: str, accept: str):
    return edge.responder.answer("GET", "http", path, "", {b"host": domain.encode(), b"accept-encoding": accept.encode()},
                                 None)


def test_the_edge_sends_stored_variants_and_compresses_nothing(tmp_path):
    ctx = make_context(tmp_path)
    shop = deploy(ctx, "shop", {"/style.css": (CSS, "public"), "/logo.png": (b"\x89PNG\r\n\x1a\n" + b"\0" * 4000,
                                                                             "public")})
    edge = Edge(ctx, "localhost")
    edge.start()
    try:
        names = {t.name for t in threading.enumerate()}
        assert not any("compress" in name for name in names), names
        entry = edge.snapshot.sites[shop.domain].build.served["/style.css"]
        assert [v.encoding for v in entry.variants] == ["br", "gzip"]
        br = _get(edge, shop.domain, "/style.css", "br, gzip")
        assert dict(br.headers)[b"content-encoding"] == b"br" and brotli.decompress(br.body) == CSS
        assert br.body == Path(entry.variants[0].file).read_bytes()
        gz = _get(edge, shop.domain, "/style.css", "gzip")
        assert gzip.decompress(gz.body) == CSS
        assert edge.figures.memory_bytes == len(CSS) + len(br.body) + len(gz.body) + 4008
        assert edge.snapshot.sites[shop.domain].build.served["/logo.png"].variants is None
    finally:
        edge.stop()


def test_variants_past_the_budget_are_sent_from_their_files(tmp_path):
    ctx = make_context(tmp_path)
    shop = deploy(ctx, "shop", {"/style.css": (CSS, "public")})
    snapshot = SnapshotLoader(ctx, EdgeOptions(memory_budget=len(CSS) + 10)).load(Snapshot())
    entry = snapshot.sites[shop.domain].build.served["/style.css"]
    assert entry.body == CSS  # the file fits the budget, its variants do not
    assert [v.body for v in entry.variants] == [None, None]
    edge = Edge(ctx, "localhost")
    edge.snapshot = snapshot
    reply = _get(edge, shop.domain, "/style.css", "gzip")
    assert reply.file == entry.variants[1].file and reply.length == entry.variants[1].size
    assert (reply.blob, reply.encoding) == (entry.blob_hash, "gzip")
    assert gzip.decompress(Path(reply.file).read_bytes()) == CSS
