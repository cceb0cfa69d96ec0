"""YAML and JSON written by strangers, parsed within bounds.

A card's byte cap says nothing of what its YAML expands to: aliases (`&a`/`*a`) let 459 bytes stand
for hundreds of megabytes (the "billion laughs"), and nesting 600 levels deep makes a recursive parser
raise `RecursionError`. Here YAML is composed first (the node graph, where an alias is one shared
node), then measured, and only built into Python objects when it is within:

- `MAX_DEPTH` levels of nesting (checked while composing, before any recursion can run away);
- `MAX_NODES` nodes and `MAX_CHARS` characters of scalars *as expanded* (each alias counted as many
  times as it is used); a recursive alias is refused outright.

JSON gets the same depth bound. Anything outside raises `TooBig`, whose message is the quarantine
reason. Real cards are far inside these bounds (the deepest front matter in the fixtures nests 7
levels; model-index 6).
"""

from __future__ import annotations

import json

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

MAX_DEPTH = 64
MAX_NODES = 200_000
MAX_CHARS = 2_000_000


class TooBig(ValueError):
    """Input outside the bounds above; the message says which."""


class _Loader(yaml.SafeLoader):
    def __init__(self, stream, max_depth: int):
        super().__init__(stream)
        self._depth, self._max_depth = 0, max_depth

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > self._max_depth:
                mark = self.peek_event().start_mark
                raise TooBig(f"YAML nested more than {self._max_depth} levels deep (line {mark.line + 1})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _measure(root, max_nodes: int, max_chars: int):
    """Nodes and scalar characters of the graph as expanded; TooBig past the bounds or on a cycle."""
    sizes: dict[int, tuple[int, int]] = {}
    on_path: set[int] = set()
    aliases = 0

    def size(node) -> tuple[int, int]:
        nonlocal aliases
        key = id(node)
        if key in sizes:
            aliases += 1
            return sizes[key]
        if key in on_path:
            raise TooBig("YAML alias refers to itself (a recursive structure)")
        if isinstance(node, ScalarNode):
            result = (1, len(node.value))
        else:
            on_path.add(key)
            nodes, chars = 1, 0
            children = node.value if isinstance(node, SequenceNode) else \
                [n for pair in node.value for n in pair] if isinstance(node, MappingNode) else []
            for child in children:
                n, c = size(child)
                nodes, chars = nodes + n, chars + c
                if nodes > max_nodes or chars > max_chars:
                    break  # reported below, with the totals so far
            on_path.discard(key)
            result = (nodes, chars)
        if result[0] > max_nodes:
            raise TooBig(f"YAML expands to more than {max_nodes:,} nodes ({aliases:,} alias uses)")
        if result[1] > max_chars:
            raise TooBig(f"YAML expands to more than {max_chars:,} characters ({aliases:,} alias uses)")
        sizes[key] = result
        return result

    size(root)


def load_yaml(text: str, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES, max_chars: int = MAX_CHARS):
    """`yaml.safe_load`, bounded. Raises yaml.YAMLError as safe_load does, and TooBig."""
    loader = _Loader(text, max_depth)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:  # cannot happen within MAX_DEPTH; kept so that it can never escape
            raise TooBig("YAML nested too deep to parse") from None
        if node is None:
            return None
        _measure(node, max_nodes, max_chars)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def json_depth(value, limit: int = MAX_DEPTH) -> int:
    """The nesting depth of a parsed JSON value, counted up to `limit + 1` (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, d)
            if deepest > limit:
                return deepest
            stack.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


def load_json(text: str | bytes, *, max_depth: int = MAX_DEPTH):
    """`json.loads`, bounded in depth. Raises ValueError (json's own) and TooBig."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooBig("JSON nested too deep to parse") from None
    if json_depth(value, max_depth) > max_depth:
        raise TooBig(f"JSON nested more than {max_depth} levels deep")
    return value


def check_depth(value, what: str, max_depth: int = MAX_DEPTH):
    """TooBig when an already parsed value (orjson's, from the Hub) nests deeper than `max_depth`."""
    if json_depth(value, max_depth) > max_depth:
        raise TooBig(f"{what} nested more than {max_depth} levels deep")
