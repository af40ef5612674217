"""What one client connection may cost the server: the bounds of the HTTP front, in the style of
nginx's (`large_client_header_buffers`, `client_max_body_size`, `client_header_timeout`,
`client_body_timeout`, `keepalive_timeout`, `send_timeout`, `worker_connections`).

They hold for every connection of the port, edge and API alike: the front checks a request's
head before it hands an API connection to uvicorn, and the protocol it hands over to keeps
checking the requests that follow (see `edge/apiproto.py`)."""

from __future__ import annotations

from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB


@dataclass(frozen=True)
class FrontLimits:
    max_request_line: int = 8 * KiB  # longest request target (URI); longer ones get 414
    max_header_bytes: int = 32 * KiB  # request line and header fields together; past it 431
    max_body_bytes: int = 1 * MiB  # an edge request's body (forms, function calls); past it 413
    header_timeout: float = 10.0  # from a request's first byte to the end of its header; then 408
    body_timeout: float = 30.0  # longest wait for the next bytes of a request body; then 408
    keepalive_timeout: float = 5.0  # an idle connection (no request begun) is closed after this
    send_timeout: float = 30.0  # a client that takes under 256 KiB of our answers in this long is dropped
    write_buffer_bytes: int = 64 * KiB  # unsent bytes of one connection past which it is not read
    max_connections: int = 1000  # open connections per process; more get 503 and are closed

    @property
    def shortest_wait(self) -> float:
        """How often a connection we are busy answering looks at its waits again."""
        return min(self.header_timeout, self.body_timeout, self.keepalive_timeout, self.send_timeout)
