"""assethost.core.signatures against twilio-python's RequestValidator test vectors and as an oracle."""

from __future__ import annotations

import random
import string

import pytest
from twilio.request_validator import RequestValidator

from assethost.core import signatures

TOKEN = "12345"
URI = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309",
          "To": "+18005551212", "Caller": "+14158675309"}
PAIRS = list(PARAMS.items())
EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_compute_vector():
    assert signatures.compute(TOKEN, URI, PAIRS) == EXPECTED


def test_compute_is_order_independent():
    assert signatures.compute(TOKEN, URI, list(reversed(PAIRS))) == EXPECTED


def test_valid_vector():
    assert signatures.valid(TOKEN, URI, PAIRS, EXPECTED)


def test_valid_with_port_stripped():
    assert signatures.valid(TOKEN, URI.replace(".com", ".com:1234"), PAIRS, EXPECTED)


def test_valid_signed_with_default_https_port():
    assert signatures.valid(TOKEN, URI, PAIRS, "kvajT1Ptam85bY51eRf/AJRuM3w=")


def test_valid_http_signed_with_port_80():
    assert signatures.valid(TOKEN, "http://mycompany.com/myapp.php?foo=1&bar=2", PAIRS, "0ZXoZLH/DfblKGATFgpif+LLRf4=")


def test_valid_http_with_explicit_port():
    assert signatures.valid(TOKEN, "http://mycompany.com:1234/myapp.php?foo=1&bar=2", PAIRS,
                            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=")


def test_multi_valued_params():
    pairs = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]
    assert signatures.compute(TOKEN, URI, pairs) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    assert signatures.valid(TOKEN, URI, pairs, "IK+Dwps556ElfBT0I3Rgjkr1wJU=")


@pytest.mark.parametrize("sig", ["", None, "RSOYDt4T1cUTdK1PDd93/VVr8B8", "rsoydt4t1cutdk1pdd93/vvr8b8=",
                                 EXPECTED + "=", "é"])
def test_invalid_signatures(sig):
    assert not signatures.valid(TOKEN, URI, PAIRS, sig)


def test_wrong_token_or_params():
    assert not signatures.valid("54321", URI, PAIRS, EXPECTED)
    assert not signatures.valid(TOKEN, URI, PAIRS[:-1], EXPECTED)
    assert not signatures.valid(TOKEN, URI, PAIRS + [("Extra", "")], EXPECTED)
    assert not signatures.valid(TOKEN, URI.replace("foo=1", "foo=2"), PAIRS, EXPECTED)
    assert not signatures.valid(TOKEN, URI.replace(".com", ".com:1234"), PAIRS, "kvajT1Ptam85bY51eRf/AJRuM3w=")


def test_other_port_rejected():
    sig = signatures.compute(TOKEN, "http://127.0.0.1:9090/logo.png")
    assert not signatures.valid(TOKEN, "http://127.0.0.1:8080/logo.png", [], sig)
    for signed in ("http://127.0.0.1:8080/logo.png", "http://127.0.0.1/logo.png"):
        assert signatures.valid(TOKEN, "http://127.0.0.1:8080/logo.png", [], signatures.compute(TOKEN, signed))


class _MultiDict(dict):
    def __init__(self, pairs):
        super().__init__()
        self._pairs = pairs
        for k, _ in pairs:
            self[k] = None

    def getlist(self, name):
        return [v for k, v in self._pairs if k == name]


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, n)))


def test_matches_request_validator_on_random_inputs():
    rng = random.Random(1234)
    alphabet = string.ascii_letters + string.digits + " +/=&?%éß☃€"
    for _ in range(300):
        token = _rand(rng, string.hexdigits, 32) or "t"
        scheme = rng.choice(["http", "https"])
        port = rng.choice(["", ":80", ":443", ":8080"])
        url = f"{scheme}://demo-1234.localhost{port}/{_rand(rng, string.ascii_lowercase, 8)}"
        if rng.random() < 0.5:
            # (a bare trailing "?" is dropped by urllib in RequestValidator.validate: not compared here)
            url += "?x" + _rand(rng, alphabet, 10)
        pairs = [(_rand(rng, "abcAB", 3), _rand(rng, alphabet, 6)) for _ in range(rng.randint(0, 6))]
        validator = RequestValidator(token)
        expected = validator.compute_signature(url, _MultiDict(pairs) if pairs else {})
        assert signatures.compute(token, url, pairs) == expected, (url, pairs)
        assert signatures.valid(token, url, pairs, expected)
        for variant in (url, url.replace(":8080", "")):
            sig = validator.compute_signature(variant, _MultiDict(pairs) if pairs else {})
            assert signatures.valid(token, url, pairs, sig) == validator.validate(url, _MultiDict(pairs), sig)
