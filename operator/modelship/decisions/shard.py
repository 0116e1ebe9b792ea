"""Which ModelDeployments and ModelPromotions one operator serves: its shard.

Several operators split a fleet by namespace (``-n``), by a label selector (``-l``), or
both; an object is served by the operator whose namespaces hold it and whose selector
its labels match, and an object no shard admits is not reconciled at all.

The selector grammar is Kubernetes' own (k8s.io/apimachinery/pkg/labels, ``Parse``):
``key``, ``!key``, ``key=value`` (also ``==``), ``key!=value``, ``key in (a,b)``,
``key notin (a,b)``, ``key>N``, ``key<N``, joined by commas (all must hold). It is
parsed here, not first by the API server, so a mistyped selector stops the operator at
start with a message naming it, instead of failing every watch request; the canonical
form (``str()``) is what the watches send, and it means the same to the API server.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

EXISTS = "exists"
NOT_EXISTS = "!"
EQUALS = "="
NOT_EQUALS = "!="
IN = "in"
NOT_IN = "notin"
GREATER = ">"
LESS = "<"

# Label names and values: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/
_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SPECIAL = "=!(),<>"
_INTEGER = re.compile(r"^[-+]?[0-9]+$")


class SelectorError(ValueError):
    """A label selector that cannot be parsed; the message says where and why."""


def _key_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and not prefix:
        return f"label key {key!r}: empty prefix before '/'"
    if prefix and (len(prefix) > 253 or not all(_DNS_LABEL.match(p) for p in prefix.split("."))):
        return f"label key {key!r}: prefix must be a DNS subdomain (lowercase, dots)"
    if not name or len(name) > 63 or not _NAME.match(name):
        return (
            f"label key {key!r}: name must be 1-63 characters, alphanumeric at both ends, "
            "with '-', '_' or '.' between"
        )
    return None


def _value_problem(value: str) -> str | None:
    if value and (len(value) > 63 or not _NAME.match(value)):
        return (
            f"label value {value!r}: at most 63 characters, alphanumeric at both ends, "
            "with '-', '_' or '.' between"
        )
    return None


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        if self.op == EXISTS:
            return present
        if self.op == NOT_EXISTS:
            return not present
        if self.op in (EQUALS, IN):
            return present and value in self.values
        if self.op in (NOT_EQUALS, NOT_IN):
            return not present or value not in self.values
        # > and <: Kubernetes compares integers and an unparsable label never matches
        if not present or not _INTEGER.match(value):
            return False
        bound = int(self.values[0])
        return int(value) > bound if self.op == GREATER else int(value) < bound

    def __str__(self) -> str:
        if self.op == EXISTS:
            return self.key
        if self.op == NOT_EXISTS:
            return f"!{self.key}"
        if self.op in (IN, NOT_IN):
            return f"{self.key} {self.op} ({','.join(self.values)})"
        return f"{self.key}{self.op}{self.values[0]}"


def _tokens(text: str) -> list[str]:
    """Kubernetes' lexer: the special symbols (``!=`` and ``==`` as one), and runs of
    anything else between them and whitespace."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c in _SPECIAL:
            pair = text[i : i + 2]
            if pair in ("!=", "=="):
                out.append(pair)
                i += 2
            else:
                out.append(c)
                i += 1
        else:
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in _SPECIAL:
                j += 1
            out.append(text[i:j])
            i = j
    return out


def _is_word(token: str | None) -> bool:
    return token is not None and token[0] not in _SPECIAL


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str | None:
        token = self.peek()
        self.pos += 1
        return token

    def key(self) -> str:
        token = self.take()
        if not _is_word(token) or token in (IN, NOT_IN):
            raise SelectorError(f"expected a label key, found {_shown(token)}")
        assert token is not None
        if problem := _key_problem(token):
            raise SelectorError(problem)
        return token

    def value(self, key: str) -> str:
        token = self.peek()
        if token is None or token in (",", ")"):
            return ""  # `key=` selects the empty value, as in Kubernetes
        self.take()
        if not _is_word(token):
            raise SelectorError(f"{key}: expected a value, found {_shown(token)}")
        if problem := _value_problem(token):
            raise SelectorError(problem)
        return token

    def values(self, key: str, op: str) -> tuple[str, ...]:
        if self.take() != "(":
            raise SelectorError(f"{key} {op}: expected '(' and a list of values")
        found: list[str] = []
        while True:
            token = self.peek()
            if token == ")" and not found:
                raise SelectorError(f"{key} {op} (): the list of values is empty")
            found.append(self.value(key))
            token = self.take()
            if token == ")":
                return tuple(sorted(set(found)))
            if token != ",":
                raise SelectorError(f"{key} {op}: expected ',' or ')', found {_shown(token)}")

    def requirement(self) -> Requirement:
        if self.peek() == "!":
            self.take()
            return Requirement(self.key(), NOT_EXISTS)
        key = self.key()
        token = self.peek()
        if token is None or token == ",":
            return Requirement(key, EXISTS)
        self.take()
        if token in ("=", "=="):
            return Requirement(key, EQUALS, (self.value(key),))
        if token == "!=":
            return Requirement(key, NOT_EQUALS, (self.value(key),))
        if token in (IN, NOT_IN):
            return Requirement(key, token, self.values(key, token))
        if token in (">", "<"):
            number = self.take()
            if number is None or not _INTEGER.match(number):
                raise SelectorError(f"{key}{token}: expected an integer, found {_shown(number)}")
            return Requirement(key, token, (str(int(number)),))
        raise SelectorError(
            f"{key}: expected =, ==, !=, in, notin, > or < after the key, found {_shown(token)}"
        )


def _shown(token: str | None) -> str:
    return "the end" if token is None else repr(token)


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...]

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        """Raises SelectorError; an empty selector (which selects everything) too, since
        a shard that serves everything is no shard: omit the selector instead."""
        parser = _Parser(text)
        if parser.peek() is None:
            raise SelectorError("empty: it would select everything (omit it instead)")
        found = [parser.requirement()]
        while (token := parser.take()) is not None:
            if token != ",":
                raise SelectorError(f"expected ',' between requirements, found {_shown(token)}")
            found.append(parser.requirement())
        # Kubernetes sorts requirements by key; so does the canonical form.
        return cls(tuple(sorted(found, key=lambda r: (r.key, r.op, r.values))))

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        return all(r.matches(labels or {}) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


DEFAULT_LEASE = "modelship-operator"


def _slug(text: str, limit: int) -> str:
    slug = re.sub(r"[^a-z0-9.]+", "-", text.lower())
    slug = re.sub(r"[-.]{2,}", "-", slug).strip("-.")
    return slug[:limit].strip("-.")


@dataclass(frozen=True)
class Shard:
    """``namespaces`` empty: every namespace; ``selector`` None: every label."""

    namespaces: tuple[str, ...] = ()
    selector: LabelSelector | None = None
    _namespace_set: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_namespace_set", frozenset(self.namespaces))

    @classmethod
    def of(cls, namespaces: list[str] | None, selector: str | None) -> Shard:
        """From the command line; raises SelectorError for a bad selector."""
        parsed = LabelSelector.parse(selector) if selector is not None else None
        return cls(tuple(sorted(set(namespaces or ()))), parsed)

    def holds_namespace(self, namespace: str) -> bool:
        return not self._namespace_set or namespace in self._namespace_set

    def admits(self, namespace: str, labels: Mapping[str, str] | None) -> bool:
        return self.holds_namespace(namespace) and (
            self.selector is None or self.selector.matches(labels)
        )

    def admits_object(self, obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        return self.admits(str(meta.get("namespace") or ""), meta.get("labels") or {})

    def key(self) -> str:
        """The shard in a few words, as the Lease records it: ``namespaces=a,b``,
        ``selector=...``, both joined by ``;``, or ``all``."""
        parts = [f"namespaces={','.join(self.namespaces)}"] if self.namespaces else []
        parts += [f"selector={self.selector}"] if self.selector else []
        return ";".join(parts) or "all"

    def describe(self) -> str:
        """One line for the log: what this operator serves."""
        where = "namespaces " + ", ".join(self.namespaces) if self.namespaces else "all namespaces"
        what = f" with labels matching '{self.selector}'" if self.selector else ""
        return f"ModelDeployments and ModelPromotions in {where}{what}"

    def lease_name(self, base: str = DEFAULT_LEASE) -> str:
        """The default Lease of a selector shard: ``base``, the selector made a name,
        and a hash of the whole shard (the slug folds case and symbols, the hash keeps
        ``tier=A`` and ``tier=a`` apart). Without a selector: ``base`` (what
        operators without shards have always used, so an upgrade keeps its Lease)."""
        if self.selector is None:
            return base
        digest = hashlib.sha256(self.key().encode()).hexdigest()[:8]
        slug = _slug(str(self.selector), 40)
        return f"{base}-{slug}-{digest}" if slug else f"{base}-{digest}"
