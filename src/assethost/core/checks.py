"""Telephony checks: whether Twilio can play a file with `<Play>` and send it by MMS or WhatsApp.

Each rule is named, says what it checks and where the rule comes from (docs/media.md lists them);
it applies to some kinds of media (core/media.py) and answers ok or why not. The type a rule
checks is the one the edge will serve (`mediatypes.served_type`, from the path, the declared type
and what the bytes showed), since that is what Twilio reads.

Results are warnings, unless a service names a rule in its media settings: then a build with a
file that fails it fails, naming the file (`build_errors`, called by core/builds.py).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass

from assethost.core import clock, mediatypes, services
from assethost.core.context import Context
from assethost.core.errors import Invalid
from assethost.core.model import BuildEntry, Media, MediaSettings
from assethost.core.ports import Tx, Value

MB = 1_000_000  # Twilio's "5 MB" read the stricter way (5,000,000 bytes), so a warning never misses

# <Play>'s supported types (twilio.com/docs/voice/twiml/play), by the format of the bytes.
PLAY_TYPES = {
    "mp3": ("audio/mpeg",),
    "wav": ("audio/wav", "audio/wave", "audio/x-wav"),
    "aiff": ("audio/aiff", "audio/x-aifc", "audio/x-aiff"),
}
PLAY_WAV_CODECS = ("pcm", "ulaw", "alaw")
# MMS: twilio.com/docs/sms/accepted-mime-types (JPEG, GIF and PNG are formatted for the handset;
# the others are sent as they are).
MMS_TYPES = frozenset({
    "image/jpeg", "image/jpg", "image/gif", "image/png", "image/bmp", "image/tiff", "image/webp",
    "audio/basic", "audio/l24", "audio/mp4", "audio/mpeg", "audio/ogg", "audio/vorbis", "audio/vnd.rn-realaudio",
    "audio/vnd.wave", "audio/3gpp", "audio/3gpp2", "audio/ac3", "audio/webm", "audio/amr-nb", "audio/amr",
    "video/mpeg", "video/mp4", "video/quicktime", "video/webm", "video/3gpp", "video/3gpp2", "video/3gpp-tt",
    "video/h261", "video/h263", "video/h263-1998", "video/h263-2000", "video/h264",
})
MMS_MAX_BYTES = 5 * MB
MMS_FILENAME_MAX = 20
# WhatsApp: Twilio's WhatsApp media guide (twilio.com/docs/whatsapp/guidance-whatsapp-media-messages):
# the types it sends, and their size limits.
WHATSAPP_TYPES = {
    "image/jpeg": 5 * MB, "image/png": 5 * MB,
    "audio/aac": 16 * MB, "audio/mp4": 16 * MB, "audio/mpeg": 16 * MB, "audio/amr": 16 * MB, "audio/ogg": 16 * MB,
    "video/mp4": 16 * MB, "video/3gpp": 16 * MB,
}
MEDIA = ("audio", "image", "video")


@dataclass(frozen=True)
class Subject:
    path: str
    served_type: str  # without parameters, lower case
    size: int
    media: Media


@dataclass(frozen=True)
class Result:
    rule: str
    ok: bool
    message: str


@dataclass(frozen=True)
class Rule:
    name: str
    kinds: tuple[str, ...]
    checks: str  # what it checks, for docs/media.md and the settings' error
    source: str
    test: Callable[[Subject], tuple[bool, str]]


def _play_format(s: Subject) -> tuple[bool, str]:
    fmt, codec = s.media.format or "unknown", s.media.codec or "unknown codec"
    if fmt not in PLAY_TYPES:
        return False, f"{fmt} ({codec}) is not a format <Play> plays: use MP3 or WAV"
    if fmt == "wav" and codec not in PLAY_WAV_CODECS:
        return False, f"WAV with {codec} audio: <Play> plays PCM, μ-law or A-law WAV"
    return True, f"{fmt} ({codec}) plays with <Play>"


def _play_type(s: Subject) -> tuple[bool, str]:
    fmt = s.media.format or "unknown"
    accepted = PLAY_TYPES.get(fmt)
    if accepted is None:
        return False, f"served as {s.served_type}, and <Play> accepts no type for {fmt} audio"
    if s.served_type not in accepted:
        return False, (f"the bytes are {fmt} but are served as {s.served_type}: Twilio answers error 11200; "
                       f"serve them as {accepted[0]} (rename the file with the right extension)")
    return True, f"served as {s.served_type}, which matches the {fmt} bytes"


def _mms_type(s: Subject) -> tuple[bool, str]:
    if s.served_type in MMS_TYPES:
        return True, f"{s.served_type} is a type MMS accepts"
    return False, f"{s.served_type} is not a type MMS accepts"


def _mms_size(s: Subject) -> tuple[bool, str]:
    if s.size <= MMS_MAX_BYTES:
        return True, f"{s.size} bytes: within MMS's 5 MB"
    return False, f"{s.size} bytes: larger than the 5 MB an MMS message may carry"


def _mms_filename(s: Subject) -> tuple[bool, str]:
    name = posixpath.basename(s.path)
    if len(name) <= MMS_FILENAME_MAX:
        return True, f"file name {name!r} has at most {MMS_FILENAME_MAX} characters"
    return False, f"file name {name!r} has {len(name)} characters; MMS advises at most {MMS_FILENAME_MAX}"


def _whatsapp_type(s: Subject) -> tuple[bool, str]:
    if s.served_type not in WHATSAPP_TYPES:
        return False, f"{s.served_type} is not a type WhatsApp sends"
    if s.served_type == "audio/ogg" and s.media.codec != "opus":
        return False, f"Ogg with {s.media.codec or 'unknown'} audio: WhatsApp sends Ogg only with Opus"
    return True, f"{s.served_type} is a type WhatsApp sends"


def _whatsapp_size(s: Subject) -> tuple[bool, str]:
    most = WHATSAPP_TYPES.get(s.served_type, 16 * MB)
    if s.size <= most:
        return True, f"{s.size} bytes: within WhatsApp's {most // MB} MB for {s.served_type}"
    return False, f"{s.size} bytes: larger than WhatsApp's {most // MB} MB for {s.served_type}"


RULES = (
    Rule("play.format", ("audio",), "the audio's format and codec are ones <Play> plays",
         "twilio.com/docs/voice/twiml/play (supported audio types)", _play_format),
    Rule("play.type", ("audio",), "the Content-Type served is one <Play> accepts for the bytes' format",
         "twilio.com/docs/voice/twiml/play; twilio.com/docs/api/errors/11200", _play_type),
    Rule("mms.type", MEDIA, "the Content-Type served is one MMS accepts",
         "twilio.com/docs/sms/accepted-mime-types", _mms_type),
    Rule("mms.size", MEDIA, "the file fits in an MMS message (5 MB)",
         "twilio.com/docs/sms/accepted-mime-types", _mms_size),
    Rule("mms.filename", MEDIA, "the file name (Content-Disposition, the URL's last segment) has at most "
         "20 characters", "twilio.com/docs/sms/accepted-mime-types", _mms_filename),
    Rule("whatsapp.type", MEDIA, "the Content-Type served (and, for Ogg, the codec) is one WhatsApp sends",
         "twilio.com/docs/whatsapp/guidance-whatsapp-media-messages", _whatsapp_type),
    Rule("whatsapp.size", MEDIA, "the file is within WhatsApp's size for its type (images 5 MB, audio and "
         "video 16 MB)", "twilio.com/docs/whatsapp/guidance-whatsapp-media-messages", _whatsapp_size),
)
NAMES = tuple(r.name for r in RULES)


def served_base(path: str, content_type: str, media: Media) -> str:
    served = mediatypes.served_type(path, content_type, media.sniffed_type, media.kind == "text")
    return served.split(";", 1)[0].strip().lower()


def run(path: str, content_type: str, size: int, media: Media) -> list[Result]:
    """Every rule that applies to this kind of file, in the order of RULES."""
    subject = Subject(path, served_base(path, content_type, media), size, media)
    return [Result(r.name, *r.test(subject)) for r in RULES if media.kind in r.kinds]


def failures(results: list[Result]) -> list[Result]:
    return [r for r in results if not r.ok]


# --- per service: which rules fail a build ----------------------------------------------------


def parse_rules(raw: str | None) -> list[str]:
    names = [n.strip() for n in (raw or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise Invalid(f"StrictRules: {unknown[0]!r} is not a media rule; the rules are {', '.join(NAMES)}")
    return sorted(set(names), key=NAMES.index)


def settings(tx: Tx, service_sid: str) -> MediaSettings:
    found = tx.media_settings.get(service_sid=service_sid)
    return found or MediaSettings(service_sid=service_sid, strip_metadata=False, strict_rules="",
                                  date_updated=clock.now())


def get_settings(ctx: Context, account_sid: str, service_ref: str) -> MediaSettings:
    with ctx.meta.read() as tx:
        return settings(tx, services.find(tx, account_sid, service_ref).sid)


def _flag(raw: str | None, name: str) -> bool | None:
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise Invalid(f"{name} must be true or false (got {raw[:20]!r})")


def update_settings(ctx: Context, account_sid: str, service_ref: str, strip_metadata: str | None,
                    strict_rules: str | None) -> MediaSettings:
    strip = _flag(strip_metadata, "StripMetadata")
    rules = parse_rules(strict_rules) if strict_rules is not None else None
    with ctx.meta.write() as tx:
        service = services.find(tx, account_sid, service_ref)
        current = settings(tx, service.sid)
        values: dict[str, Value] = {
            "strip_metadata": current.strip_metadata if strip is None else strip,
            "strict_rules": current.strict_rules if rules is None else ",".join(rules),
            "date_updated": clock.now(),
        }
        if tx.media_settings.update({"service_sid": service.sid}, **values) == 0:
            tx.media_settings.insert(service_sid=service.sid, **values)
        return tx.media_settings.one(service_sid=service.sid)


# --- builds -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileWarning:
    path: str
    rule: str
    message: str


def build_warnings(tx: Tx, entries: list[BuildEntry]) -> list[FileWarning]:
    """Every served asset of a build that fails a rule, and why (private assets are never fetched
    by Twilio, so they are not checked)."""
    served = [e for e in entries if e.kind == "asset" and e.visibility != "private"]
    known = {m.blob_hash: m for m in tx.media.select_in("blob_hash", sorted({e.blob_hash for e in served}))}
    out = []
    for e in sorted(served, key=lambda e: e.path):
        facts = known.get(e.blob_hash)
        if facts is not None:
            out += [FileWarning(e.path, r.rule, r.message) for r in failures(run(e.path, e.content_type, e.size, facts))]
    return out


def build_errors(tx: Tx, service_sid: str, entries: list[BuildEntry]) -> str | None:
    """Why the build must fail under the service's strict rules, naming the files; None if it may pass."""
    strict = set(parse_rules(settings(tx, service_sid).strict_rules))
    if not strict:
        return None
    failed = [w for w in build_warnings(tx, entries) if w.rule in strict]
    if not failed:
        return None
    shown = "; ".join(f"{w.path} fails {w.rule}: {w.message}" for w in failed[:5])
    more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
    return f"media rules: {shown}{more}"
