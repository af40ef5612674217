"""The cache of verified X-Twilio-Signatures in `core.signatures`: a repeat of a verified request
is accepted from it, any change of URL, form, signature or token is checked in full (and refused
when it does not hold), a body that is not a form is never taken from it, and it keeps at most
VERIFIED_SIZE entries while every answer stays right. twilio-python's RequestValidator is the
oracle of what a valid signature is."""

from __future__ import annotations

import hashlib

import pytest
from twilio.request_validator import RequestValidator

from assethost.core import signatures

TOKEN = "0123456789abcdef0123456789abcdef"
URL = "https://shop-1234.example.test/p/secret.txt"


def _sign(url: str, form: dict[str, str] | None = None, token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, form or {})


def test_a_repeated_valid_request_is_served_and_remembered_once():
    url = URL + "?n=repeat"
    signature = _sign(url)
    before = signatures.verified_count()
    for _ in range(5):
        assert signatures.valid(TOKEN, url, (), signature)
    assert signatures.verified_count() == min(before + 1, signatures.VERIFIED_SIZE)


@pytest.mark.parametrize("change", ["url", "query", "form", "form-value", "signature", "signature-case"])
def test_a_changed_request_is_refused_after_the_signed_one_was_remembered(change):
    url, form = URL + "?n=change", {"CallSid": "CA" + "1" * 32, "Digits": "1"}
    signature = _sign(url, form)
    pairs = tuple(form.items())
    assert signatures.valid(TOKEN, url, pairs, signature)
    assert signatures.valid(TOKEN, url, pairs, signature)  # remembered
    other_url, other_pairs, other_signature = url, pairs, signature
    if change == "url":
        other_url = url.replace("secret.txt", "other.txt")
    elif change == "query":
        other_url = url + "&x=1"
    elif change == "form":
        other_pairs = (*pairs, ("To", "+15550001111"))
    elif change == "form-value":
        other_pairs = (("CallSid", "CA" + "2" * 32), ("Digits", "1"))
    elif change == "signature":
        other_signature = _sign(url + "x", form)
    else:
        other_signature = signature.swapcase()
    assert not signatures.valid(TOKEN, other_url, other_pairs, other_signature)
    assert signatures.valid(TOKEN, url, pairs, signature)


def test_after_a_token_rotation_the_old_signature_is_refused():
    url = URL + "?n=rotation"
    old = _sign(url)
    assert signatures.valid(TOKEN, url, (), old)
    assert signatures.valid(TOKEN, url, (), old)
    new_token = "f" * 32
    assert not signatures.valid(new_token, url, (), old)
    assert signatures.valid(new_token, url, (), _sign(url, token=new_token))
    assert not signatures.valid(new_token, url, (), old)


def test_a_json_body_is_never_accepted_on_a_remembered_url_signature():
    """The replay of tests/security/test_signatures_replay.py, after the URL's signature was
    remembered: a body that is not a form is checked in full, against bodySHA256."""
    url = URL + "?n=body"
    signature = _sign(url)
    assert signatures.valid(TOKEN, url, (), signature)
    assert not signatures.valid(TOKEN, url, (), signature, b'{"any": "thing"}')
    body = b'{"to": "+15550001111"}'
    signed_url = f"{url}&bodySHA256={hashlib.sha256(body).hexdigest()}"
    body_signature = _sign(signed_url)
    for _ in range(2):
        assert signatures.valid(TOKEN, signed_url, (), body_signature, body)
        assert not signatures.valid(TOKEN, signed_url, (), body_signature, body + b" ")


def test_the_cache_is_bounded_and_stays_right_past_its_bound():
    requests = [(f"{URL}?n=bound-{i}", _sign(f"{URL}?n=bound-{i}")) for i in range(signatures.VERIFIED_SIZE + 500)]
    for url, signature in requests:
        assert signatures.valid(TOKEN, url, (), signature)
        assert signatures.verified_count() <= signatures.VERIFIED_SIZE
    assert signatures.verified_count() == signatures.VERIFIED_SIZE
    for url, signature in requests[:10] + requests[-10:]:  # forgotten ones and remembered ones alike
        assert signatures.valid(TOKEN, url, (), signature)
        other = "B" if signature[-2] != "B" else "C"  # another last digit: another signature
        assert not signatures.valid(TOKEN, url, (), signature[:-2] + other + "=")
