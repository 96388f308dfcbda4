"""The small language of the claims file: paths into a results file, expressions over
them, and the conditions of a rule.

Used by :mod:`condcomp_lib.claims` (chapter 10's table of the papers' claims).

An expression reads a number from one results file. A path is the file's keys joined by
dots: ``models.CIGT.test_acc_mean``. A key that is not a plain name (spaces, dots,
brackets) goes between backquotes: ``accuracy_mean.`learned (sampled)```; a quoted key
that ends in ``*`` stands for the one key that begins with the rest. A number indexes a
list; ``*`` takes every element of a list or every value of a mapping; a selector in
square brackets picks one element of a list (or one value of a mapping): ``[batch=256,
family=`routed_conv2d tiles*`]`` the one whose fields match, ``[min conv_fraction]`` the
one with the smallest field. Expressions combine paths and numbers with ``+ - * /`` and
parentheses, and ``min``, ``max``, ``mean`` reduce the lists that ``*`` makes.

A condition is one or more comparisons joined by ``and``, each an operator (``>=``,
``>``, ``<=``, ``<``, ``==``, ``!=``) and a number: ``">= 0.3"``, ``"> 0 and < 10"``.
A malformed expression or condition raises ``ValueError``; a path that leads nowhere in
a file raises ``KeyError``, naming the field.
"""

from __future__ import annotations

import math
import operator
import re

# ---------------------------------------------------------------------------------------
# expressions over paths
# ---------------------------------------------------------------------------------------

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_QUOTED = r"`[^`]*`"
_SELECTOR = r"\[(?:`[^`]*`|[^\]`])*\]"
_SEGMENT = rf"(?:{_NAME}|\d+|{_QUOTED}|\*)"
_PATH = re.compile(rf"(?:{_NAME}|{_QUOTED})(?:\s*\.\s*{_SEGMENT}|\s*{_SELECTOR})*")
_NUMBER = re.compile(r"\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")
_PARTS = re.compile(rf"\s*\.?\s*({_NAME}|\d+|{_QUOTED}|\*)|\s*({_SELECTOR})")
_FUNCTIONS = {"min": min, "max": max, "mean": lambda xs: sum(xs) / len(xs)}
_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


def _tokens(expr: str) -> list[tuple[str, object]]:
    """Split an expression into (kind, value) tokens: num, path, func, op."""
    out, i = [], 0
    while i < len(expr):
        c = expr[i]
        if c.isspace():
            i += 1
        elif c in "+-*/()":
            out.append(("op", c))
            i += 1
        elif m := _NUMBER.match(expr, i):
            out.append(("num", float(m.group())))
            i = m.end()
        elif m := _PATH.match(expr, i):
            word = m.group()
            rest = expr[m.end() :].lstrip()
            if word in _FUNCTIONS and rest.startswith("("):
                out.append(("func", word))
            else:
                out.append(("path", _segments(word)))
            i = m.end()
        else:
            raise ValueError(f"unexpected {expr[i:]!r}")
    return out


def _segments(path: str) -> list[str]:
    """``a.`b c`[x=1].0`` -> ['a', '`b c`', '[x=1]', '0']."""
    parts, i = [], 0
    while i < len(path):
        m = _PARTS.match(path, i)
        if m is None or m.end() == i:
            raise ValueError(f"cannot read the path {path!r}")
        parts.append(m.group(1) or m.group(2))
        i = m.end()
    return parts


def parse(expr: str):
    """The expression as a tree: ('num', x), ('path', segments), ('func', name, arg) or
    (op, left, right); ValueError when it is malformed."""
    tokens = _tokens(str(expr))
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else (None, None)

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def expect(value):
        if peek() != ("op", value):
            raise ValueError(f"expected {value!r} in {expr!r}")
        take()

    def atom():
        kind, value = peek()
        if kind in ("num", "path"):
            return take()
        if kind == "func":
            take()
            expect("(")
            arg = sum_()
            expect(")")
            return ("func", value, arg)
        if (kind, value) == ("op", "("):
            take()
            inner = sum_()
            expect(")")
            return inner
        if (kind, value) == ("op", "-"):
            take()
            return ("-", ("num", 0.0), atom())
        raise ValueError(f"a number, a path or '(' expected in {expr!r}")

    def product():
        node = atom()
        while peek() in (("op", "*"), ("op", "/")):
            node = (take()[1], node, atom())
        return node

    def sum_():
        node = product()
        while peek() in (("op", "+"), ("op", "-")):
            node = (take()[1], node, product())
        return node

    tree = sum_()
    if pos != len(tokens):
        raise ValueError(f"unexpected {tokens[pos][1]!r} in {expr!r}")
    return tree


def _key(mapping: dict, seg: str):
    """One key of a mapping: a name, a number or a backquoted key (``*``: a prefix)."""
    if seg.startswith("`"):
        name = seg[1:-1]
        if name.endswith("*"):
            found = [k for k in mapping if k.startswith(name[:-1])]
            if len(found) != 1:
                raise KeyError(f"{len(found)} keys begin with {name[:-1]!r}")
            return mapping[found[0]]
        seg = name
    if seg not in mapping:
        raise KeyError(f"no key {seg!r}")
    return mapping[seg]


def _matches(value, wanted: str) -> bool:
    if wanted.startswith("`"):
        text = wanted[1:-1]
        if text.endswith("*"):
            return isinstance(value, str) and value.startswith(text[:-1])
        return value == text
    try:
        return isinstance(value, (int, float)) and math.isclose(value, float(wanted))
    except ValueError:
        return value == wanted


def _select(items, selector: str):
    """The one element of a list (or value of a mapping) that a selector picks."""
    items = list(items.values()) if isinstance(items, dict) else items
    if not isinstance(items, list):
        raise KeyError(f"{selector} needs a list or a mapping")
    body = selector[1:-1].strip()
    if m := re.fullmatch(rf"(min|max)\s+({_NAME})", body):
        pick, field = m.groups()
        return (min if pick == "min" else max)(items, key=lambda r: r[field])
    conds = [
        c.split("=", 1) for c in re.findall(rf"{_NAME}\s*=\s*(?:{_QUOTED}|[^,]+)", body)
    ]
    if not conds:
        raise KeyError(f"cannot read the selector {selector}")
    found = [
        r
        for r in items
        if all(k.strip() in r and _matches(r[k.strip()], v.strip()) for k, v in conds)
    ]
    if len(found) != 1:
        raise KeyError(f"{len(found)} elements match {selector}")
    return found[0]


def _walk(data, segments: list[str]):
    values, many = [data], False
    for seg in segments:
        nxt = []
        for v in values:
            if seg == "*":
                if not isinstance(v, (dict, list)):
                    raise KeyError("'*' needs a list or a mapping")
                nxt.extend(v.values() if isinstance(v, dict) else v)
            elif seg.startswith("["):
                nxt.append(_select(v, seg))
            elif isinstance(v, list):
                if not seg.isdigit() or int(seg) >= len(v):
                    raise KeyError(f"no element {seg} in a list of {len(v)}")
                nxt.append(v[int(seg)])
            elif isinstance(v, dict):
                nxt.append(_key(v, seg))
            else:
                raise KeyError(f"{seg!r} under a {type(v).__name__}")
        values, many = nxt, many or seg == "*"
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise KeyError(f"{v!r} is not a number")
    return [float(v) for v in values] if many else float(values[0])


def _apply(fn, a, b):
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            raise KeyError(f"lists of {len(a)} and {len(b)} values")
        return [fn(x, y) for x, y in zip(a, b)]
    if isinstance(a, list):
        return [fn(x, b) for x in a]
    if isinstance(b, list):
        return [fn(a, y) for y in b]
    return fn(a, b)


def evaluate(tree, data: dict):
    """The value of a parsed expression on one results file: a number, or a list of them
    where a ``*`` is not reduced. KeyError names what is missing."""
    kind = tree[0]
    if kind == "num":
        return tree[1]
    if kind == "path":
        try:
            return _walk(data, tree[1])
        except KeyError as e:
            raise KeyError(f"{''.join(_dotted(tree[1]))}: {e.args[0]}") from None
    if kind == "func":
        arg = evaluate(tree[2], data)
        return _FUNCTIONS[tree[1]](arg if isinstance(arg, list) else [arg])
    return _apply(_OPS[kind], evaluate(tree[1], data), evaluate(tree[2], data))


def _dotted(segments):
    return [s if i == 0 or s.startswith("[") else "." + s for i, s in enumerate(segments)]


# ---------------------------------------------------------------------------------------
# rules
# ---------------------------------------------------------------------------------------

_CMP = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_COND = re.compile(r"\s*(>=|<=|==|!=|>|<)\s*([+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)\s*")


def parse_condition(text) -> list[tuple[str, float]]:
    """``">= 0.3 and < 2"`` -> [('>=', 0.3), ('<', 2.0)]; ValueError when malformed."""
    out = []
    for part in str(text).split(" and "):
        m = _COND.fullmatch(part)
        if m is None:
            raise ValueError(f"cannot read the condition {part.strip()!r}")
        out.append((m.group(1), float(m.group(2))))
    return out


def holds(conds, value: float) -> bool:
    return all(_CMP[op](value, x) for op, x in conds)
