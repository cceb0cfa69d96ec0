"""Fault injection: which requests fail, and how, from a one-line spec.

Spec: rules separated by `;`, each `KIND[:OPT,OPT...]` with `OPT` = `key=value`.

Request faults (the first rule that fires answers the request):
  500 | 502 | 503 | 504   that status, JSON error body, RateLimit headers kept
  429                     `headers=yes` (default: RateLimit r=0, t=`retry` s) or `headers=no` (a bare 429,
                          as CloudFront's edge sends)
  slow                    wait `delay` seconds (default 30) before answering: slower than a client timeout
  reset                   send the headers and half the body, then reset the connection
  truncate                a complete response whose JSON body is cut short (Content-Length agrees)
Item faults (every matching rule applies to the items of a listing or model_info body):
  missing-id              drop `id` from a `rate` of the items (default 0.01; at least one per response)
  new-field               add an unknown field `name` (default `newField`) with `value` to every item
  vanish                  remove `field` from every item

Selectors, for any rule: `on=list|info|card|any` (default any), `nth=1|3` (1-based ordinals among
matching requests), `every=N`, `after=N` (skip the first N), `p=0.2` (seeded probability),
`count=N` (stop after N firings). Example: `503:on=list,nth=1;429:count=20;missing-id:rate=0.05`.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

REQUEST_KINDS = {"500", "502", "503", "504", "429", "slow", "reset", "truncate"}
ITEM_KINDS = {"missing-id", "new-field", "vanish"}


class FaultSpecError(ValueError):
    pass


@dataclass
class Rule:
    kind: str
    opts: dict
    seen: int = 0     # matching requests so far
    fired: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def fires(self, route: str) -> bool:
        on = self.opts.get("on", "any")
        if on != "any" and on != route:
            return False
        self.seen += 1
        n = self.seen
        if "count" in self.opts and self.fired >= int(self.opts["count"]):
            return False
        if n <= int(self.opts.get("after", 0)):
            return False
        if "nth" in self.opts and n not in {int(x) for x in self.opts["nth"].split("|")}:
            return False
        if "every" in self.opts and n % int(self.opts["every"]):
            return False
        if "p" in self.opts and self.rng.random() >= float(self.opts["p"]):
            return False
        self.fired += 1
        return True

    def describe(self) -> dict:
        return {"kind": self.kind, "opts": self.opts, "seen": self.seen, "fired": self.fired}


def parse_spec(spec: str, seed: int = 0) -> list[Rule]:
    rules = []
    for i, part in enumerate(p.strip() for p in (spec or "").split(";")):
        if not part:
            continue
        kind, _, rest = part.partition(":")
        kind = kind.strip()
        if kind not in REQUEST_KINDS | ITEM_KINDS:
            raise FaultSpecError(f"unknown fault kind {kind!r} (known: {', '.join(sorted(REQUEST_KINDS | ITEM_KINDS))})")
        opts = {}
        for opt in filter(None, (o.strip() for o in rest.split(","))):
            key, eq, value = opt.partition("=")
            if not eq:
                raise FaultSpecError(f"fault option {opt!r} in {part!r} is not key=value")
            opts[key.strip()] = value.strip()
        for key in ("count", "after", "every"):
            if key in opts and not opts[key].isdigit():
                raise FaultSpecError(f"fault option {key}={opts[key]!r} must be a whole number")
        if opts.get("on", "any") not in ("list", "info", "card", "any"):
            raise FaultSpecError(f"fault option on={opts['on']!r}: use list, info, card or any")
        rules.append(Rule(kind, opts, rng=random.Random(seed * 1000 + i)))
    return rules


class FaultPlan:
    """The faults in force; thread-safe, replaceable at run time through the control endpoint."""

    def __init__(self, spec: str = "", seed: int = 0):
        self.lock = threading.Lock()
        self.seed = seed
        self.spec = spec
        self.rules = parse_spec(spec, seed)

    def replace(self, spec: str):
        rules = parse_spec(spec, self.seed)
        with self.lock:
            self.spec, self.rules = spec, rules

    def request_fault(self, route: str) -> Rule | None:
        with self.lock:
            for rule in self.rules:
                if rule.kind in REQUEST_KINDS and rule.fires(route):
                    return rule
        return None

    def item_faults(self, route: str) -> list[Rule]:
        with self.lock:
            return [r for r in self.rules if r.kind in ITEM_KINDS and r.fires(route)]

    def describe(self) -> dict:
        with self.lock:
            return {"spec": self.spec, "rules": [r.describe() for r in self.rules]}


def apply_item_faults(items: list[dict], rules: list[Rule]) -> list[dict]:
    """Damage items as the rules say (copies: the store's cached structures stay intact)."""
    out = [dict(item) for item in items]
    for rule in rules:
        if rule.kind == "missing-id":
            rate = float(rule.opts.get("rate", 0.01))
            step = max(1, round(1 / rate)) if rate > 0 else len(out) + 1
            for i in range(len(out) - 1, -1, -step):  # the last item always: at least one per response
                out[i].pop("id", None)
        elif rule.kind == "new-field":
            name = rule.opts.get("name", "newField")
            value = rule.opts.get("value", "surprise")
            for item in out:
                item[name] = value
        elif rule.kind == "vanish":
            name = rule.opts.get("field", "likes")
            for item in out:
                item.pop(name, None)
    return out
