"""Media through the API and the edge, on real files made at test time (tests/mediakit.py): what an
upload is, each telephony rule's positive and negative case (upload warnings, the version's media
view, the build summary, strict rules failing a build), metadata stripping, and immutable aliases."""

from __future__ import annotations

import io
import os
import time

import httpx
import pytest
from edgekit import twilio_signature
from helpers import (
    completed_build,
    create_asset,
    create_build,
    create_environment,
    create_service,
    deploy,
    uniq,
    wait_build,
)
from mediakit import GPS_IFD, ORIENTATION, audio, image, jpeg_with_gps, pixels, read_image
from PIL import Image

X = "/assethost/v1/Services"


def _upload(http, zs, path, content, mime, visibility="public", **fields):
    asset = create_asset(http, zs)
    data = {"Path": path, "Visibility": visibility, **fields}
    resp = http.post(f"/v1/Services/{zs}/Assets/{asset['sid']}/Versions", data=data,
                     files={"Content": (path.rsplit("/", 1)[-1] or "file", content, mime)})
    assert resp.status_code == 201, resp.text
    return resp.json()


def _media(http, version):
    resp = http.get(f"{X}/{version['service_sid']}/Assets/{version['asset_sid']}/Versions/{version['sid']}")
    assert resp.status_code == 200, resp.text
    return resp.json()


def _failed(checks):
    return {c["rule"] for c in checks if not c["ok"]}


def _edge(server, domain, path, **headers):
    with httpx.Client(trust_env=False, timeout=30) as c:
        return c.get(f"{server.base_url}{path}", headers={"Host": f"{domain}:{server.port}", **headers})


def _live(http, zs, versions):
    build = completed_build(http, zs, [v["sid"] for v in versions])
    env = create_environment(http, zs, domain_suffix=uniq("m")[:12])
    assert deploy(http, zs, env["sid"], build["sid"]).status_code == 201
    return env


ALL = {"play.format", "play.type", "mms.type", "mms.size", "mms.filename", "whatsapp.type", "whatsapp.size"}
VISUAL = ALL - {"play.format", "play.type"}


def test_an_mp3_is_known_and_passes_every_rule(http, tmp_path):
    zs = create_service(http, uniq("media"))["sid"]
    version = _upload(http, zs, "/greeting.mp3", audio(tmp_path, "mp3"), "audio/mpeg")
    assert version["media_warnings"] == []
    got = _media(http, version)
    m = got["media"]
    assert (m["kind"], m["format"], m["codec"], m["sample_rate"], m["channels"]) == ("audio", "mp3", "mp3", 22050, 1)
    assert 1.0 < m["duration_seconds"] < 4.0
    assert {c["rule"] for c in m["checks"]} == ALL and _failed(m["checks"]) == set()
    assert got["immutable_url"] is None  # not live anywhere yet
    assert {k: got[k] for k in ("sid", "path", "visibility", "asset_sid")} == {
        "sid": version["sid"], "path": "/greeting.mp3", "visibility": "public", "asset_sid": version["asset_sid"]}


def test_an_mp3_served_as_x_wav_fails_play_type(http, tmp_path):
    zs = create_service(http, uniq("media"))["sid"]
    version = _upload(http, zs, "/greeting", audio(tmp_path, "mp3"), "audio/x-wav")
    warned = {w["rule"]: w["message"] for w in version["media_warnings"]}
    assert set(warned) == {"play.type", "mms.type", "whatsapp.type"}
    assert "mp3" in warned["play.type"] and "audio/x-wav" in warned["play.type"] and "11200" in warned["play.type"]
    assert _failed(_media(http, version)["media"]["checks"]) == set(warned)


def test_a_ulaw_wav_plays_but_is_no_mms_type(http, tmp_path):
    zs = create_service(http, uniq("media"))["sid"]
    version = _upload(http, zs, "/hold.wav", audio(tmp_path, "ulaw"), "audio/wav")
    m = _media(http, version)["media"]
    assert (m["kind"], m["format"], m["codec"], m["sample_rate"], m["channels"]) == ("audio", "wav", "ulaw", 8000, 1)
    assert _failed(m["checks"]) == {"mms.type", "whatsapp.type"}
    pcm = _media(http, _upload(http, zs, "/pcm.wav", audio(tmp_path, "pcm"), "audio/wav"))["media"]
    assert (pcm["codec"], pcm["sample_rate"]) == ("pcm", 22050) and "play.format" not in _failed(pcm["checks"])


def test_an_ogg_vorbis_does_not_play_and_is_no_whatsapp_audio(http, tmp_path):
    zs = create_service(http, uniq("media"))["sid"]
    version = _upload(http, zs, "/music.ogg", audio(tmp_path, "ogg"), "audio/ogg")
    m = _media(http, version)["media"]
    assert (m["format"], m["codec"]) == ("ogg", "vorbis")
    assert _failed(m["checks"]) == {"play.format", "play.type", "whatsapp.type"}
    assert {w["rule"] for w in version["media_warnings"]} == {"play.format", "play.type", "whatsapp.type"}


def test_a_jpeg_with_gps_is_known_and_a_long_name_fails_mms_filename(http):
    zs = create_service(http, uniq("media"))["sid"]
    version = _upload(http, zs, "/photos/holiday-at-the-beach-2026.jpg", jpeg_with_gps(), "image/jpeg")
    m = _media(http, version)["media"]
    assert (m["kind"], m["format"], m["width"], m["height"], m["has_exif"], m["has_gps"]) == (
        "image", "jpeg", 64, 48, True, True)
    assert {c["rule"] for c in m["checks"]} == VISUAL
    assert _failed(m["checks"]) == {"mms.filename"}
    assert [w["rule"] for w in version["media_warnings"]] == ["mms.filename"]
    short = _media(http, _upload(http, zs, "/logo.png", image("PNG", exif=False), "image/png"))["media"]
    assert (short["format"], short["has_exif"], short["has_gps"], _failed(short["checks"])) == ("png", False, False, set())


def test_an_image_over_5_mb_fails_the_size_rules(http):
    zs = create_service(http, uniq("media"))["sid"]
    noise = Image.frombytes("RGB", (1400, 1300), os.urandom(1400 * 1300 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG", compress_level=1)
    assert out.tell() > 5_000_000
    version = _upload(http, zs, "/big.png", out.getvalue(), "image/png")
    assert {w["rule"] for w in version["media_warnings"]} == {"mms.size", "whatsapp.size"}


def test_hostile_and_unknown_files_are_other_and_answered_quickly(http):
    zs = create_service(http, uniq("media"))["sid"]
    bomb = io.BytesIO()
    Image.new("1", (1, 1)).save(bomb, "PNG")
    data = bytearray(bomb.getvalue())
    data[16:24] = (200_000).to_bytes(4, "big") * 2  # IHDR claims 200,000 × 200,000 pixels
    started = time.monotonic()
    cases = {"/bomb.png": (bytes(data), "image/png"), "/cut.mp3": (b"ID3\x04\x00\x00\x00\x00\x00\x10" + b"\xff" * 5, "audio/mpeg"),
             "/noise.bin": (os.urandom(4096), "application/octet-stream")}
    for path, (content, mime) in cases.items():
        m = _media(http, _upload(http, zs, path, content, mime))["media"]
        assert (m["kind"], m["checks"]) == ("other", []), path
    text = _media(http, _upload(http, zs, "/notes.txt", b"hello", "text/plain"))["media"]
    assert (text["kind"], text["format"], text["checks"]) == ("text", "text/plain", [])
    assert time.monotonic() - started < 20


def test_text_is_told_from_its_name_and_bytes_without_the_image_and_audio_readers(http):
    """Pillow reads "P1" text as a PBM bitmap: had the readers seen these text files, they would be
    images of 2 × 2 pixels (as they were before text skipped them). Bytes that sniff as media are
    still read."""
    zs = create_service(http, uniq("media"))["sid"]
    cases = {"/notes.txt": (b"P1\n2 2\n0 1\n1 0\n", "text/plain", "text/plain"),
             "/data.json": (b"P1\n2 2\n1 1\n0 0\n", "application/json", "application/json")}
    for path, (content, mime, fmt) in cases.items():
        m = _media(http, _upload(http, zs, path, content, mime))["media"]
        assert m == {"kind": "text", "format": fmt, "checks": []}, path
    png = io.BytesIO()
    Image.new("RGB", (3, 2)).save(png, "PNG")
    m = _media(http, _upload(http, zs, "/misnamed.txt", png.getvalue(), "text/plain"))["media"]
    assert (m["kind"], m["format"], m["width"], m["height"]) == ("image", "png", 3, 2)


def test_a_bad_strip_field_is_refused_and_stores_nothing(http):
    zs = create_service(http, uniq("media"))["sid"]
    asset = create_asset(http, zs)
    resp = http.post(f"/v1/Services/{zs}/Assets/{asset['sid']}/Versions",
                     data={"Path": "/a.jpg", "Visibility": "public", "StripMetadata": "yes"},
                     files={"Content": ("a.jpg", jpeg_with_gps(), "image/jpeg")})
    assert resp.status_code == 400 and "StripMetadata" in resp.json()["message"]
    assert http.get(f"/v1/Services/{zs}/Assets/{asset['sid']}/Versions").json()["asset_versions"] == []


# --- strict rules fail builds -----------------------------------------------------------------


def test_a_strict_rule_fails_the_build_naming_the_file_and_the_summary_lists_every_failure(http, tmp_path):
    zs = create_service(http, uniq("media"))["sid"]
    bad = _upload(http, zs, "/greeting", audio(tmp_path, "mp3"), "audio/x-wav")
    good = _upload(http, zs, "/welcome.mp3", audio(tmp_path, "mp3"), "audio/mpeg")
    warned = completed_build(http, zs, [bad["sid"], good["sid"]])  # warnings only: the build passes
    summary = http.get(f"{X}/{zs}/Builds/{warned['sid']}").json()
    assert {(w["path"], w["rule"]) for w in summary["media_warnings"]} == {
        ("/greeting", "play.type"), ("/greeting", "mms.type"), ("/greeting", "whatsapp.type")}

    refused = http.post(f"{X}/{zs}/MediaSettings", data={"StrictRules": "play.nope"})
    assert refused.status_code == 400 and "play.type" in refused.json()["message"]
    settings = http.post(f"{X}/{zs}/MediaSettings", data={"StrictRules": "play.type, play.format"}).json()
    assert (settings["strict_rules"], settings["strip_metadata"]) == (["play.format", "play.type"], False)
    assert {r["rule"] for r in settings["rules"]} == ALL

    build = create_build(http, zs, [bad["sid"], good["sid"]]).json()
    assert wait_build(http, zs, build["sid"]) == "failed"
    details = http.get(f"{X}/{zs}/Builds/{build['sid']}").json()
    assert details["status_reason"].startswith("media rules: /greeting fails play.type: the bytes are mp3")
    assert "/welcome.mp3" not in details["status_reason"]
    assert completed_build(http, zs, [good["sid"]])["sid"]  # the rule passes: the build does too

    http.post(f"{X}/{zs}/MediaSettings", data={"StrictRules": ""})
    assert wait_build(http, zs, create_build(http, zs, [bad["sid"]]).json()["sid"]) == "completed"


# --- stripping --------------------------------------------------------------------------------


def _served_bytes(server, http, zs, version):
    env = _live(http, zs, [version])
    resp = _edge(server, env["domain_name"], version["path"])
    assert resp.status_code == 200
    return resp.content


def test_a_stripped_jpeg_has_no_exif_nor_gps_and_the_same_pixels(server, http):
    zs = create_service(http, uniq("media"))["sid"]
    original = jpeg_with_gps()
    assert read_image(original).getexif().get_ifd(GPS_IFD)
    version = _upload(http, zs, "/me.jpg", original, "image/jpeg", StripMetadata="true")
    m = _media(http, version)["media"]
    assert (m["has_exif"], m["has_gps"]) == (False, False)
    served = _served_bytes(server, http, zs, version)
    img = read_image(served)
    assert len(img.getexif()) == 0 and "exif" not in img.info and "xmp" not in img.info
    assert pixels(served) == pixels(original)
    assert len(served) < len(original)
    kept = _upload(http, zs, "/kept.jpg", original, "image/jpeg")  # not asked: kept as uploaded
    assert _media(http, kept)["media"]["has_gps"] is True


def test_stripping_keeps_only_the_orientation(server, http):
    zs = create_service(http, uniq("media"))["sid"]
    original = jpeg_with_gps(orientation=6)
    version = _upload(http, zs, "/turned.jpg", original, "image/jpeg", StripMetadata="true")
    served = _served_bytes(server, http, zs, version)
    exif = read_image(served).getexif()
    assert dict(exif) == {ORIENTATION: 6} and not exif.get_ifd(GPS_IFD)
    assert pixels(served) == pixels(original)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_the_service_setting_strips_png_and_webp(server, http, fmt):
    zs = create_service(http, uniq("media"))["sid"]
    assert http.post(f"{X}/{zs}/MediaSettings", data={"StripMetadata": "true"}).json()["strip_metadata"] is True
    save = {"lossless": True} if fmt == "WEBP" else {}
    original = image(fmt, **save)
    assert read_image(original).getexif().get_ifd(GPS_IFD)
    ext = fmt.lower()
    version = _upload(http, zs, f"/pic.{ext}", original, f"image/{ext}")
    served = _served_bytes(server, http, zs, version)
    img = read_image(served)
    assert len(img.getexif()) == 0 and not img.getexif().get_ifd(GPS_IFD)
    assert pixels(served) == pixels(original)
    kept = _upload(http, zs, f"/kept.{ext}", original, f"image/{ext}", StripMetadata="false")
    assert _media(http, kept)["media"]["has_gps"] is True


# --- immutable aliases ------------------------------------------------------------------------


def test_an_alias_serves_while_a_live_build_holds_the_content_and_404s_after(server, http, tmp_path):
    zs = create_service(http, uniq("media"))["sid"]
    greeting = audio(tmp_path, "mp3")
    v1 = _upload(http, zs, "/greeting.mp3", greeting, "audio/mpeg")
    env = _live(http, zs, [v1])
    alias_url = _media(http, v1)["immutable_url"]
    domain = env["domain_name"]
    assert alias_url.startswith(f"http://{domain}:{server.port}/greeting~") and alias_url.endswith(".mp3")
    alias = alias_url.split(str(server.port), 1)[1]
    first = _edge(server, domain, alias)
    assert (first.status_code, first.content) == (200, greeting)
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert first.headers["content-type"] == "audio/mpeg"
    assert _edge(server, domain, "/greeting.mp3").headers["cache-control"] != first.headers["cache-control"]

    # a redeploy with a new version of the same bytes, and another file: the alias still serves
    v2 = _upload(http, zs, "/greeting.mp3", greeting, "audio/mpeg")
    other = _upload(http, zs, "/other.txt", b"other", "text/plain")
    b2 = completed_build(http, zs, [v2["sid"], other["sid"]])
    assert deploy(http, zs, env["sid"], b2["sid"]).status_code == 201
    assert _edge(server, domain, alias).status_code == 200
    assert _media(http, v2)["immutable_url"] == alias_url

    # new bytes at the path: the old alias is gone, the new one serves them
    v3 = _upload(http, zs, "/greeting.mp3", greeting + b"\x00" * 16, "audio/mpeg")
    b3 = completed_build(http, zs, [v3["sid"]])
    assert deploy(http, zs, env["sid"], b3["sid"]).status_code == 201
    assert _edge(server, domain, alias).status_code == 404
    assert _media(http, v1)["immutable_url"] is None
    fresh = _media(http, v3)["immutable_url"]
    assert fresh != alias_url and _edge(server, domain, fresh.split(str(server.port), 1)[1]).content == greeting + b"\x00" * 16


def test_a_protected_alias_needs_a_signature_and_is_not_publicly_cached(server, http):
    zs = create_service(http, uniq("media"))["sid"]
    version = _upload(http, zs, "/secret.png", image("PNG", exif=False), "image/png", visibility="protected")
    env = _live(http, zs, [version])
    alias = _media(http, version)["immutable_url"].split(str(server.port), 1)[1]
    assert _edge(server, env["domain_name"], alias).status_code == 403
    url = f"http://{env['domain_name']}:{server.port}{alias}"
    signed = _edge(server, env["domain_name"], alias, **{"X-Twilio-Signature": twilio_signature(server.auth_token, url)})
    assert signed.status_code == 200
    assert signed.headers["cache-control"] == "private, max-age=31536000, immutable"


def test_an_alias_revalidates_with_a_minimal_304_and_its_compressed_variant_stays_immutable(server, http):
    zs = create_service(http, uniq("media"))["sid"]
    text = b"<html><body>" + b"Press one for sales, two for support. " * 200 + b"</body></html>"
    version = _upload(http, zs, "/menu.html", text, "text/html")
    env = _live(http, zs, [version])
    domain = env["domain_name"]
    alias = _media(http, version)["immutable_url"].split(str(server.port), 1)[1]
    immutable = "public, max-age=31536000, immutable"

    compressed = _edge(server, domain, alias, **{"Accept-Encoding": "br"})
    assert compressed.status_code == 200
    assert compressed.headers["content-encoding"] == "br"
    assert compressed.headers["cache-control"] == immutable
    assert compressed.content == text  # httpx decodes brotli

    plain = _edge(server, domain, alias)
    revalidated = _edge(server, domain, alias, **{"If-None-Match": plain.headers["etag"]})
    assert revalidated.status_code == 304
    assert revalidated.headers["cache-control"] == immutable
    assert set(revalidated.headers) == {"cache-control", "etag", "vary", "date"}
