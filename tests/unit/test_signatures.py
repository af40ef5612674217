"""assethost.core.signatures against twilio-python's RequestValidator test vectors and as an oracle."""

from __future__ import annotations

import hashlib
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


# --- bodies that are not forms: bodySHA256, as RequestValidator.validate(uri, body, signature) ---

BODY = '{"CallSid": "CA1234567890ABCDE", "Digits": "1234"}'
BODY_HASH = hashlib.sha256(BODY.encode()).hexdigest()


def _oracle(token: str, url: str, body: str, sig: str) -> bool:
    """RequestValidator's answer for a string body. Without bodySHA256 in the URL it cannot check
    a non-empty body at all (it raises TypeError): that is a refusal too."""
    try:
        return RequestValidator(token).validate(url, body, sig)
    except TypeError:
        return False


def test_body_hash_vector():
    url = f"https://mycompany.com/myapp.php?bodySHA256={BODY_HASH}"
    sig = RequestValidator(TOKEN).compute_signature(url, {})
    assert RequestValidator(TOKEN).validate(url, BODY, sig)
    assert signatures.valid(TOKEN, url, (), sig, BODY.encode())
    assert signatures.valid(TOKEN, url.replace(".com", ".com:443"), (), sig, BODY.encode())


def test_body_must_match_its_hash():
    url = f"https://mycompany.com/myapp.php?bodySHA256={BODY_HASH}"
    sig = RequestValidator(TOKEN).compute_signature(url, {})
    tampered = BODY.replace("1234", "9999")
    assert not _oracle(TOKEN, url, tampered, sig)
    assert not signatures.valid(TOKEN, url, (), sig, tampered.encode())


def test_url_only_signature_does_not_cover_a_body():
    """The replay: a signature made for a GET of the URL, sent as a POST with a JSON body."""
    url = "https://mycompany.com/myapp.php?foo=1"
    sig = RequestValidator(TOKEN).compute_signature(url, {})
    assert signatures.valid(TOKEN, url, (), sig)  # the GET it was made for
    assert signatures.valid(TOKEN, url, (), sig, b"")  # a POST without a body
    assert not _oracle(TOKEN, url, '{"foo": "2"}', sig)
    assert not signatures.valid(TOKEN, url, (), sig, b'{"foo": "2"}')


def test_body_hash_upper_case_or_blank_is_refused():
    for claimed in (BODY_HASH.upper(), "", BODY_HASH[:-1], BODY_HASH + "0"):
        url = f"https://mycompany.com/myapp.php?bodySHA256={claimed}"
        sig = RequestValidator(TOKEN).compute_signature(url, {})
        assert not _oracle(TOKEN, url, BODY, sig)
        assert not signatures.valid(TOKEN, url, (), sig, BODY.encode())


def test_body_hash_in_a_form_post_is_just_part_of_the_url():
    # RequestValidator looks at bodySHA256 only when the params are a body string
    url = "https://mycompany.com/myapp.php?bodySHA256=" + "0" * 64
    sig = RequestValidator(TOKEN).compute_signature(url, _MultiDict(PAIRS))
    assert RequestValidator(TOKEN).validate(url, _MultiDict(PAIRS), sig)
    assert signatures.valid(TOKEN, url, PAIRS, sig)


@pytest.mark.parametrize("padded", [" {} ", "  {}", "{}\t", "\t{} "])
def test_spaces_around_the_header_value(padded):
    sig = signatures.compute(TOKEN, URI, PAIRS)
    assert signatures.valid(TOKEN, URI, PAIRS, padded.format(sig))
    url = f"https://mycompany.com/myapp.php?bodySHA256={BODY_HASH}"
    assert signatures.valid(TOKEN, url, (), padded.format(signatures.compute(TOKEN, url)), BODY.encode())


def test_body_hash_matches_request_validator_on_random_inputs():
    rng = random.Random(4321)
    alphabet = string.ascii_letters + string.digits + ' {}":,[]éß☃'
    for _ in range(300):
        token = _rand(rng, string.hexdigits, 32) or "t"
        port = rng.choice(["", ":443", ":8080"])
        body = _rand(rng, alphabet, 40)
        digest = hashlib.sha256(body.encode()).hexdigest()
        query = rng.choice([
            f"bodySHA256={digest}",  # as Twilio signs
            f"a=1&bodySHA256={digest}&b=2",
            f"body%53HA256={digest}",  # percent-encoded name: parse_qs decodes it
            f"bodySHA256={digest}&bodySHA256=bad",  # the first value counts
            f"bodySHA256=bad&bodySHA256={digest}",
            f"bodySHA256={digest.upper()}",
            "bodySHA256=",
            "bodysha256=" + digest,  # another name
            "a=1",
            "",
        ])
        url = f"https://demo-1234.localhost{port}/f" + (f"?{query}" if query else "")
        signed = rng.choice([url, url.replace(port, "") if port else url])
        sig = RequestValidator(token).compute_signature(signed, {})
        if rng.random() < 0.2:
            sig = sig[:-2] + "A="
        got = signatures.valid(token, url, (), sig, body.encode())
        assert got == _oracle(token, url, body, sig), (url, body, sig)
