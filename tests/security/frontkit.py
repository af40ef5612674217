"""The limits the security suite's servers run with (flags of `assethost serve`), made small so
that every bound is reached within a second or two, and the function its function site runs."""

KiB = 1024
HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.0
KEEPALIVE_TIMEOUT_S = 1.0
SEND_TIMEOUT_S = 2.0
MAX_HEADER_BYTES = 16 * KiB
MAX_REQUEST_LINE = 4 * KiB
MAX_BODY_BYTES = 64 * KiB
FRONT_ARGS = (
    "--header-timeout", HEADER_TIMEOUT_S, "--body-timeout", BODY_TIMEOUT_S,
    "--keepalive-timeout", KEEPALIVE_TIMEOUT_S, "--send-timeout", SEND_TIMEOUT_S,
    "--max-header-bytes", MAX_HEADER_BYTES, "--max-request-line", MAX_REQUEST_LINE,
    "--max-body-bytes", MAX_BODY_BYTES,
)
MAX_CONNECTIONS = 10  # of the `capped` server

# A function answering `?size=` bytes of a repeating pattern (answer_bytes), as one body.
ANSWER_FUNCTION = """exports.handler = (context, event, callback) => {
  const response = new Twilio.Response();
  response.appendHeader('Content-Type', 'application/octet-stream');
  response.setBody(Buffer.alloc(Number(event.size), 'assethost'));
  callback(null, response);
};
"""


def answer_bytes(size: int) -> bytes:
    """What ANSWER_FUNCTION answers to `?size={size}`."""
    return (b"assethost" * (size // 9 + 1))[:size]
