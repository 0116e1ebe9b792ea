"""The dashboard refuses foreign hosts, cross-origin POSTs and POSTs without its token."""

from __future__ import annotations

import pytest

from modelship.dashboard.guard import allowed_hosts, refusal

TOKEN = "s3cret-token"
ALLOWED = allowed_hosts("127.0.0.1", 8390)
OWN = {"Host": "127.0.0.1:8390", "Origin": "http://127.0.0.1:8390", "X-Modelship-CSRF": TOKEN}


@pytest.mark.parametrize(
    ("name", "method", "headers", "refused"),
    [
        ("own page GET", "GET", {"Host": "127.0.0.1:8390"}, None),
        ("localhost GET", "GET", {"Host": "localhost:8390"}, None),
        (
            "GET needs no token",
            "GET",
            {"Host": "127.0.0.1:8390", "Origin": "http://x.example"},
            None,
        ),
        ("rebinding host GET", "GET", {"Host": "attacker.example:8390"}, "Host"),
        ("no host", "GET", {}, "Host"),
        ("other port", "GET", {"Host": "127.0.0.1:9999"}, "Host"),
        ("own POST", "POST", OWN, None),
        ("POST without Origin (curl)", "POST", {**OWN, "Origin": None}, None),
        ("POST without token", "POST", {**OWN, "X-Modelship-CSRF": None}, "token"),
        ("POST wrong token", "POST", {**OWN, "X-Modelship-CSRF": "guess"}, "token"),
        ("POST empty token", "POST", {**OWN, "X-Modelship-CSRF": ""}, "token"),
        ("foreign Origin", "POST", {**OWN, "Origin": "http://evil.example"}, "cross-origin"),
        ("null Origin", "POST", {**OWN, "Origin": "null"}, "cross-origin"),
        ("https Origin", "POST", {**OWN, "Origin": "https://127.0.0.1:8390"}, "cross-origin"),
        ("other port Origin", "POST", {**OWN, "Origin": "http://127.0.0.1:8391"}, "cross-origin"),
        ("cross-site fetch", "POST", {**OWN, "Sec-Fetch-Site": "cross-site"}, "cross-site"),
        ("same-site fetch", "POST", {**OWN, "Sec-Fetch-Site": "same-site"}, "cross-site"),
        ("same-origin fetch", "POST", {**OWN, "Sec-Fetch-Site": "same-origin"}, None),
        ("rebinding host POST", "POST", {**OWN, "Host": "evil.example:8390"}, "Host"),
    ],
)
def test_refusal(
    name: str, method: str, headers: dict[str, str | None], refused: str | None
) -> None:
    sent = {k: v for k, v in headers.items() if v is not None}
    why = refusal(method, sent, TOKEN, ALLOWED, "127.0.0.1")
    if refused is None:
        assert why is None, name
    else:
        assert why is not None and refused in why, (name, why)


def test_no_token_configured_refuses_every_post() -> None:
    assert refusal("POST", {**OWN, "X-Modelship-CSRF": ""}, "", ALLOWED, "127.0.0.1")


def test_wildcard_bind_takes_ip_literals_but_no_names() -> None:
    allowed = allowed_hosts("0.0.0.0", 8390)
    assert refusal("GET", {"Host": "192.168.1.5:8390"}, TOKEN, allowed, "0.0.0.0") is None
    assert refusal("GET", {"Host": "127.0.0.1:8390"}, TOKEN, allowed, "0.0.0.0") is None
    assert refusal("GET", {"Host": "evil.example:8390"}, TOKEN, allowed, "0.0.0.0")


def test_ipv6_loopback() -> None:
    allowed = allowed_hosts("::1", 8390)
    assert "[::1]:8390" in allowed
    assert refusal("GET", {"Host": "[::1]:8390"}, TOKEN, allowed, "::1") is None
