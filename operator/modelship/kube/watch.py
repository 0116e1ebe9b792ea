"""List-then-watch of one kind, as client-go's reflector does, over the same ApiClient
(the same credentials) as the rest of the Kube layer.

``list_and_watch`` lists (keeping the list's resourceVersion), hands the whole list to
``on_list``, then streams watch events from that resourceVersion to ``on_event``;
bookmarks move the resourceVersion on; a 410 Gone (the version was compacted away)
lists again. It returns when ``stop`` is set; errors raise, for the caller to back off.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException

from modelship.errors import TransientError
from modelship.kube.client import Kube, collection_path

Obj = dict[str, Any]
WATCH_SECONDS = 240  # the API server ends each watch after this; we start the next one


class Gone(Exception):
    """The resourceVersion is too old: list again."""


def _stream(kube: Kube, path: str, query: list[tuple[str, str]], timeout: float) -> Any:
    method, url, headers, body, post = kube.api.param_serialize(
        "GET",
        path,
        query_params=query,
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
    )
    try:
        response = kube.api.call_api(method, url, headers, body, post, _request_timeout=timeout)
    except ApiException as exc:
        raise TransientError(f"GET {path}: {exc.status} {exc.body or exc.reason}") from exc
    if int(response.status) != 200:
        raw = response.read()  # type: ignore[no-untyped-call]
        try:
            message = json.loads(raw).get("message", raw)
        except ValueError:
            message = raw
        raise TransientError(f"GET {path}: {response.status} {message}")
    return response.response


def list_and_watch(
    kube: Kube,
    api_version: str,
    kind: str,
    namespace: str | None,
    on_list: Callable[[list[Obj]], None],
    on_event: Callable[[str, Obj], None],
    stop: threading.Event,
) -> None:
    path = collection_path(api_version, kind, namespace)
    while not stop.is_set():
        listed = kube._call("GET", path)
        version = str((listed.get("metadata") or {}).get("resourceVersion") or "")
        on_list(list(listed.get("items") or []))
        try:
            while not stop.is_set():
                version = _watch(kube, path, version, on_event, stop)
        except Gone:
            continue


def _watch(
    kube: Kube, path: str, version: str, on_event: Callable[[str, Obj], None], stop: threading.Event
) -> str:
    query = [
        ("watch", "1"),
        ("allowWatchBookmarks", "true"),
        ("resourceVersion", version),
        ("timeoutSeconds", str(WATCH_SECONDS)),
    ]
    raw = _stream(kube, path, query, WATCH_SECONDS + 30)
    buffer = b""
    try:
        for chunk in raw.stream(65536, decode_content=True):
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if not line.strip():
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise Gone()
                    raise TransientError(f"watch {path}: {obj.get('message')}")
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind != "BOOKMARK":
                    on_event(str(kind), obj)
            if stop.is_set():
                break
    finally:
        raw.release_conn()
    return version
