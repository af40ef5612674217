"""Media in the CLI, on real files made at test time: `assethost deploy` prints the build's media
warnings (a negative case of every rule, next to files that pass them all), `assethost list` shows
what each asset is, the rules it fails and its immutable URL, a deploy shows which URLs changed
bytes, and a rule the service made strict fails the deploy, naming the file."""

from __future__ import annotations

import io
import os
import uuid

from clikit import edge_get, edge_url, run_cli, write_files
from mediakit import audio, jpeg_with_gps
from PIL import Image

OGG_FAILS = {"play.format", "play.type", "whatsapp.type"}


def _project(tmp_path, files):
    root = tmp_path / "project"
    write_files(root, files)
    return root


def _deploy(server, root, name, *args):
    return run_cli(server, "deploy", ".", "--service-name", name, *args, cwd=root)


def _big_png() -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", (1400, 1300), os.urandom(1400 * 1300 * 3)).save(out, "PNG", compress_level=1)
    assert out.tell() > 5_000_000
    return out.getvalue()


def test_deploy_and_list_show_media_and_its_warnings(cli_server, tmp_path):
    name = f"media-{uuid.uuid4().hex[:8]}"
    root = _project(tmp_path, {
        "assets/greeting.mp3": audio(tmp_path, "mp3"), "assets/music.ogg": audio(tmp_path, "ogg"),
        "assets/photo.jpg": jpeg_with_gps(), "assets/hold.wav": audio(tmp_path, "ulaw"),
        "assets/a-long-name-for-a-photo.jpg": jpeg_with_gps(), "assets/poster.png": _big_png(),
    })
    text = _deploy(cli_server, root, name).ok().stdout
    warned = set()
    for line in text.splitlines():
        if line.strip().startswith("warning "):
            path, rule, _ = line.strip().removeprefix("warning ").split(": ", 2)
            warned.add((path, rule))
    assert warned == {("/music.ogg", r) for r in OGG_FAILS} | {
        ("/hold.wav", "mms.type"), ("/hold.wav", "whatsapp.type"),
        ("/a-long-name-for-a-photo.jpg", "mms.filename"),
        ("/poster.png", "mms.size"), ("/poster.png", "whatsapp.size"),
    }

    listed = run_cli(cli_server, "list", "--service-name", name, "--no-builds", "--json").ok().json()
    files = {f["path"]: f for f in listed["services"][0]["environments"][0]["files"]}
    greeting, music, photo = files["/greeting.mp3"]["media"], files["/music.ogg"]["media"], files["/photo.jpg"]["media"]
    assert (greeting["kind"], greeting["format"], greeting["sample_rate"]) == ("audio", "mp3", 22050)
    assert [c["rule"] for c in greeting["checks"] if not c["ok"]] == []
    assert {c["rule"] for c in music["checks"] if not c["ok"]} == OGG_FAILS
    assert (photo["kind"], photo["has_gps"]) == ("image", True)

    lines = run_cli(cli_server, "list", "--service-name", name, "--no-builds").ok().stdout.splitlines()
    after = {lines[i - 1].split()[1]: line.strip() for i, line in enumerate(lines) if line.strip().startswith("media:")}
    assert after["/greeting.mp3"].startswith("media: audio, mp3, mp3, 22050 Hz, ") and "fails" not in after["/greeting.mp3"]
    assert after["/music.ogg"].endswith("; fails play.format, play.type, whatsapp.type")
    assert after["/photo.jpg"] == "media: image, jpeg, 64x48, GPS in EXIF"


def test_a_strict_rule_fails_the_deploy_naming_the_file(cli_server, tmp_path):
    name = f"strict-{uuid.uuid4().hex[:8]}"
    root = _project(tmp_path, {"assets/greeting.mp3": audio(tmp_path, "mp3")})
    first = _deploy(cli_server, root, name, "--json").ok().json()
    assert first["media_warnings"] == []
    zs = first["service"]["sid"]
    with cli_server.http_client() as http:
        assert http.post(f"/assethost/v1/Services/{zs}/MediaSettings", data={"StrictRules": "play.format"}).status_code == 200
    write_files(root, {"assets/music.ogg": audio(tmp_path, "ogg")})
    refused = _deploy(cli_server, root, name)
    assert refused.returncode != 0
    assert "failed: media rules: /music.ogg fails play.format: ogg (vorbis) is not a format <Play> plays" in refused.stderr
    listed = run_cli(cli_server, "list", "--service-name", name, "--no-builds", "--json").ok().json()
    live = listed["services"][0]["environments"][0]["files"]
    assert [f["path"] for f in live] == ["/greeting.mp3"]  # the failed build was not deployed


def test_list_offers_the_immutable_url_and_deploy_shows_which_urls_changed_bytes(cli_server, tmp_path):
    name = f"alias-{uuid.uuid4().hex[:8]}"
    greeting = audio(tmp_path, "mp3")
    root = _project(tmp_path, {"assets/greeting.mp3": greeting, "assets/notes.txt": "same\n"})
    first = _deploy(cli_server, root, name, "--json").ok().json()
    domain = first["environment"]["domain_name"]
    assert first["changed_urls"] == []  # nothing was live before
    listed = run_cli(cli_server, "list", "--service-name", name, "--no-builds", "--json").ok().json()
    old = {f["path"]: f for f in listed["services"][0]["environments"][0]["files"]}["/greeting.mp3"]["immutable_url"]
    assert old.startswith(edge_url(cli_server, domain, "/greeting~")) and old.endswith(".mp3")
    old_path = old.split(str(cli_server.port), 1)[1]
    assert edge_get(cli_server, domain, old_path).content == greeting

    write_files(root, {"assets/greeting.mp3": greeting + b"\x00" * 32})
    text = _deploy(cli_server, root, name).ok().stdout
    changed = [line.strip() for line in text.splitlines() if "changed bytes:" in line]
    assert len(changed) == 1 and changed[0].startswith(f"changed bytes: {edge_url(cli_server, domain, '/greeting.mp3')}  (now ")
    new = changed[0].split("(now ", 1)[1].rstrip(")")
    assert new != old and new.startswith(edge_url(cli_server, domain, "/greeting~"))
    assert edge_get(cli_server, domain, new.split(str(cli_server.port), 1)[1]).content == greeting + b"\x00" * 32
    assert edge_get(cli_server, domain, old_path).status_code == 404  # no live build holds the old bytes
    listed = run_cli(cli_server, "list", "--service-name", name, "--no-builds").ok().stdout
    assert f"immutable: {new}" in listed
