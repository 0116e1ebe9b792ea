"""Which requests the dashboard refuses: pure functions of the request's headers.

The dashboard acts with the user's own credentials, so any web page the user's browser
opens could try to make it act (cross-site request forgery) or read it through a DNS
name that resolves to 127.0.0.1 (DNS rebinding). Three checks, as OWASP recommends for
a local service without sessions:

- Host: every request (GETs too) must name the address the dashboard listens on, or a
  loopback name for it; a rebinding page's requests carry its own host name.
- Origin: a POST with an Origin header must come from the dashboard's own origin; a
  browser sends Origin on every cross-origin POST, so a foreign page is refused even if
  it could guess the token. A POST the browser says is cross-site (Sec-Fetch-Site) is
  refused too.
- CSRF token: a POST must carry the per-process random token in X-Modelship-CSRF. The
  token is in the page (a meta tag); other origins cannot read the page, and a custom
  header cannot be sent cross-origin without a CORS preflight, which the dashboard never
  grants.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping

CSRF_HEADER = "X-Modelship-CSRF"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def allowed_hosts(address: str, port: int) -> frozenset[str]:
    """Host header values naming this server: the bound address and loopback names."""
    host = f"[{address}]" if ":" in address and not address.startswith("[") else address
    names = {f"{host}:{port}"}
    if _loopback(address) or _wildcard(address):
        names.update(f"{n}:{port}" for n in LOOPBACK_NAMES)
    return frozenset(names)


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return address == "localhost"


def _wildcard(address: str) -> bool:
    return address in ("0.0.0.0", "::", "[::]", "")


def host_ok(host: str | None, allowed: Iterable[str], address: str) -> bool:
    """A listed Host; behind a wildcard bind also any IP literal (never a DNS name other
    than localhost, which is what rebinding needs)."""
    if not host:
        return False
    host = host.lower()
    if host in allowed:
        return True
    if _wildcard(address):
        name = host.rsplit(":", 1)[0].strip("[]")
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True
    return False


def refusal(
    method: str, headers: Mapping[str, str], token: str, allowed: Iterable[str], address: str
) -> str | None:
    """Why the request is refused, or None. ``headers`` is case-insensitive or lower-case
    keyed by the caller (aiohttp's CIMultiDict is)."""
    host = headers.get("Host") or headers.get("host")
    if not host_ok(host, allowed, address):
        return f"unexpected Host header {host!r}: open the dashboard by its own address"
    if method.upper() in ("GET", "HEAD", "OPTIONS"):
        return None
    origin = headers.get("Origin") or headers.get("origin")
    if origin is not None:
        # An origin is scheme://host[:port], nothing more (RFC 6454); "null" is opaque.
        scheme, _, netloc = origin.partition("://")
        if scheme != "http" or netloc.lower() != (host or "").lower():
            return f"cross-origin request from {origin!r} refused"
    site = headers.get("Sec-Fetch-Site") or headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"cross-site request refused (Sec-Fetch-Site: {site})"
    sent = headers.get(CSRF_HEADER) or headers.get(CSRF_HEADER.lower()) or ""
    if not token or not hmac.compare_digest(sent.encode(), token.encode()):
        return f"missing or wrong {CSRF_HEADER} token: reload the page"
    return None
