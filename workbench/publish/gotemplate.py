"""A small interpreter for the subset of Go's text/template that Ollama model templates use.

It lets us preview and golden-test what Ollama will send to a model. Supported: text; actions printing a
pipeline (`{{ .Field }}`, `{{ .A.B }}`, `{{ $.Field }}`, `{{ $var.Field }}`, `{{ (index .L 0).Role }}`);
trim markers `{{- ` and ` -}}` (all of " \\t\\r\\n" on that side, as Go trims); comments `{{/* ... */}}`;
`if`/`else if`/`else`, `range` over lists, maps (sorted keys) and integers (with `else`, `$e :=` and
`$i, $e :=`), `with`; variables (`$x := ...`, `$x = ...`, scoped like Go: until the `end` of the enclosing
control structure); pipes `|`; the functions eq, ne, lt, le, gt, ge, and, or (both short-circuit and return
the deciding value), not, len, slice and index (strings count and slice by bytes, as in Go); string literals
("..." with Go escapes and `raw`), integers, true, false and nil (which, as in Go, is neither a command nor
an argument of these built-ins).

Data is plain Python: dicts with Go-style capitalised keys, lists, str, int, bool, None. One deliberate
difference from Go: a missing map key is nil, printed as "" rather than Go's "<no value>" (and a field of
nil is nil), because Ollama passes structs, whose fields always exist, not maps. Anything else raises
GoTemplateError.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import WorkbenchError

__all__ = ["GoTemplateError", "render"]

_SPACE = " \t\r\n"
_IDENT = re.compile(r"[^\W\d]\w*")
_FIELDS = re.compile(r"(?:\.[^\W\d]\w*)+")
_VAR = re.compile(r"\$\w*")
_NUMBER = re.compile(r"[+-]?\d[\w.]*")
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}
_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}


class GoTemplateError(WorkbenchError, ValueError):
    """The template cannot be parsed or executed; the message names the line, column and action."""


class _Fail(Exception):
    """An execution error without a position; the walker adds the action's position."""


# --- tokenizer: text pieces and actions (with their tokens) ---------------------------------------------


@dataclass
class _Tok:
    kind: str  # str int bool nil dot field var ident ( ) | , := =
    value: Any
    glued: bool  # no space before it (a field right after ")" belongs to the parenthesis)


@dataclass
class _Action:
    tokens: list[_Tok]
    where: str


def _where(src: str, start: int, end: int) -> str:
    line = src.count("\n", 0, start) + 1
    column = start - (src.rfind("\n", 0, start) + 1) + 1
    snippet = src[start:end] if end - start <= 60 else src[start : start + 57] + "..."
    return f"line {line}, column {column}: {snippet!r}"


def _scan(src: str) -> list[str | _Action]:
    pieces: list[str | _Action] = []
    i, trim_next = 0, False
    while True:
        start = src.find("{{", i)
        text = src[i:] if start < 0 else src[i:start]
        if trim_next:
            text = text.lstrip(_SPACE)
        if start < 0:
            pieces.append(text)
            return pieces
        k = start + 2
        if src.startswith("-", k) and src[k + 1 : k + 2] and src[k + 1] in _SPACE:
            text, k = text.rstrip(_SPACE), k + 2
        pieces.append(text)
        if src.startswith("/*", k):
            close = src.find("*/", k + 2)
            if close < 0:
                raise GoTemplateError(f"{_where(src, start, start + 20)}: unclosed comment")
            k = close + 2
            if src.startswith("}}", k):
                i, trim_next = k + 2, False
            elif src[k : k + 1] in tuple(_SPACE) and src.startswith("-}}", k + 1):
                i, trim_next = k + 4, True
            else:
                raise GoTemplateError(f"{_where(src, start, k)}: comment ends before closing delimiter")
            continue
        tokens, i, trim_next = _lex_action(src, k, start)
        pieces.append(_Action(tokens, _where(src, start, i)))


def _match(pattern: re.Pattern[str], src: str, i: int) -> re.Match[str]:
    """A match the caller has already checked is there (its first character told)."""
    found = pattern.match(src, i)
    if found is None:
        raise GoTemplateError(f"offset {i}: expected {pattern.pattern!r}")
    return found


def _lex_action(src: str, i: int, start: int) -> tuple[list[_Tok], int, bool]:
    tokens: list[_Tok] = []
    glued = False
    kind: str
    value: Any
    while True:
        if i >= len(src):
            raise GoTemplateError(f"{_where(src, start, i)}: unclosed action")
        c = src[i]
        if c in _SPACE:
            if src.startswith("-}}", i + 1):
                return tokens, i + 4, True
            i, glued = i + 1, False
            continue
        if src.startswith("}}", i):
            return tokens, i + 2, False
        if c == '"':
            value, i = _read_string(src, i, start)
            kind = "str"
        elif c == "`":
            close = src.find("`", i + 1)
            if close < 0:
                raise GoTemplateError(f"{_where(src, start, i)}: unterminated raw string")
            kind, value, i = "str", src[i + 1 : close], close + 1
        elif c.isdigit() or (c in "+-" and src[i + 1 : i + 2].isdigit()):
            text = _match(_NUMBER, src, i).group()
            try:
                kind, value, i = "int", int(text.replace("_", ""), 0), i + len(text)
            except ValueError:
                raise GoTemplateError(f"{_where(src, start, i)}: unsupported number {text!r}") from None
        elif c == ".":
            m = _FIELDS.match(src, i)
            if m:
                kind, value, i = "field", tuple(m.group()[1:].split(".")), m.end()
            else:
                kind, value, i = "dot", (), i + 1
        elif c == "$":
            name = _match(_VAR, src, i)
            fields = _FIELDS.match(src, name.end())
            names = tuple(fields.group()[1:].split(".")) if fields else ()
            kind, value, i = "var", (name.group(), names), fields.end() if fields else name.end()
        elif _IDENT.match(src, i):
            word = _match(_IDENT, src, i).group()
            i += len(word)
            kind, value = {"true": ("bool", True), "false": ("bool", False), "nil": ("nil", None)}.get(
                word, ("ident", word)
            )
        elif src.startswith(":=", i):
            kind, value, i = ":=", None, i + 2
        elif c in "()|,=":
            kind, value, i = c, None, i + 1
        else:
            raise GoTemplateError(f"{_where(src, start, i + 1)}: unexpected {c!r} in action")
        tokens.append(_Tok(kind, value, glued))
        glued = True


def _read_string(src: str, i: int, start: int) -> tuple[str, int]:
    out: list[str] = []
    j = i + 1
    while True:
        if j >= len(src) or src[j] == "\n":
            raise GoTemplateError(f"{_where(src, start, j)}: unterminated quoted string")
        c = src[j]
        if c == '"':
            return "".join(out), j + 1
        if c != "\\":
            out.append(c)
            j += 1
            continue
        e = src[j + 1 : j + 2]
        width = {"x": 2, "u": 4, "U": 8}.get(e, 3 if e in "01234567" and e else 0)
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            j += 2
        elif width:
            digits = src[j + 2 : j + 2 + width] if e in "xuU" else src[j + 1 : j + 4]
            base = 8 if e in "01234567" else 16
            try:
                out.append(chr(int(digits, base)))
            except ValueError:
                raise GoTemplateError(f"{_where(src, start, j + 4)}: invalid escape in string") from None
            j += (2 if e in "xuU" else 1) + width
        else:
            raise GoTemplateError(f"{_where(src, start, j + 2)}: unknown escape sequence \\{e}")


# --- parser: a small node tree ---------------------------------------------------------------------------


@dataclass
class _Pipe:
    decl: list[str]
    assign: bool
    cmds: list[list[tuple]]  # operands: ("lit", v) ("dot",) ("field", names) ("var", name, names)
    # ("fn", name) ("paren", _Pipe, names)


@dataclass
class _Output:
    pipe: _Pipe
    where: str


@dataclass
class _Control:
    kind: str  # if, with, range
    pipe: _Pipe
    body: list
    else_body: list | None
    where: str


_FUNC_NAMES = {"eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not", "len", "slice", "index"}


@dataclass
class _Parser:
    pieces: list
    pos: int = 0
    scope: list[str] = field(default_factory=lambda: ["$"])

    def parse_list(self, stops: set[str]) -> tuple[list, _Action | None]:
        nodes: list = []
        while self.pos < len(self.pieces):
            piece = self.pieces[self.pos]
            self.pos += 1
            if isinstance(piece, str):
                if piece:
                    nodes.append(piece)
                continue
            toks = piece.tokens
            word = toks[0].value if toks and toks[0].kind == "ident" else None
            if word in ("end", "else"):
                if word not in stops:
                    raise GoTemplateError(f"{piece.where}: unexpected {{{{{word}}}}}")
                if word == "end" and len(toks) > 1:
                    raise GoTemplateError(f"{piece.where}: unexpected words after end")
                return nodes, piece
            if word in ("if", "with", "range"):
                nodes.append(self.control(word, piece, toks[1:]))
            elif word in _KEYWORDS:
                raise GoTemplateError(f"{piece.where}: {{{{{word}}}}} is not supported")
            else:
                nodes.append(_Output(self.pipe(toks, piece.where, decl_ok=True), piece.where))
        return nodes, None

    def control(self, kind: str, action: _Action, toks: list[_Tok]) -> _Control:
        mark = len(self.scope)
        pipe = self.pipe(toks, action.where, decl_ok=True, range_decl=kind == "range")
        if kind == "range" and pipe.assign:
            raise GoTemplateError(f"{action.where}: range with '=' is not supported")
        body, term = self.parse_list({"else", "end"})
        if term is None:
            raise GoTemplateError(f"{action.where}: unexpected end of template: {{{{{kind}}}}} without {{{{end}}}}")
        else_body = None
        if term.tokens[0].value == "else":
            rest = term.tokens[1:]
            if rest:
                if kind == "range" or rest[0].kind != "ident" or rest[0].value not in ("if", "with"):
                    raise GoTemplateError(f"{term.where}: unexpected words after else")
                else_body = [self.control(rest[0].value, term, rest[1:])]  # shares our {{end}}
            else:
                else_body, term = self.parse_list({"end"})
                if term is None:
                    raise GoTemplateError(
                        f"{action.where}: unexpected end of template: {{{{else}}}} without {{{{end}}}}"
                    )
        del self.scope[mark:]
        return _Control(kind, pipe, body, else_body, action.where)

    def pipe(self, toks: list[_Tok], where: str, decl_ok: bool = False, range_decl: bool = False) -> _Pipe:
        decl: list[str] = []
        assign = False
        if decl_ok and toks and toks[0].kind == "var" and not toks[0].value[1]:
            if len(toks) > 1 and toks[1].kind in (":=", "="):
                decl, assign, toks = [toks[0].value[0]], toks[1].kind == "=", toks[2:]
            elif (
                range_decl
                and len(toks) > 3
                and toks[1].kind == ","
                and toks[2].kind == "var"
                and not toks[2].value[1]
                and toks[3].kind == ":="
            ):
                decl, toks = [toks[0].value[0], toks[2].value[0]], toks[4:]
        cmds: list[list[_Tok]] = []
        current: list[_Tok] = []
        depth = 0
        for tok in toks:  # split into commands on "|" outside parentheses
            depth += {"(": 1, ")": -1}.get(tok.kind, 0)
            if tok.kind == "|" and depth == 0:
                cmds.append(current)
                current = []
            else:
                current.append(tok)
        cmds.append(current)
        parsed = [self.command(cmd, where) for cmd in cmds]
        for name in decl:
            if assign and name not in self.scope:
                raise GoTemplateError(f"{where}: undefined variable {name}")
            if not assign:
                self.scope.append(name)
        return _Pipe(decl, assign, parsed)

    def command(self, toks: list[_Tok], where: str) -> list[tuple]:
        if not toks:
            raise GoTemplateError(f"{where}: missing value for command")
        operands: list[tuple] = []
        i = 0
        while i < len(toks):
            tok = toks[i]
            i += 1
            if tok.kind == "(":
                depth, j = 1, i
                while j < len(toks) and depth:
                    depth += {"(": 1, ")": -1}.get(toks[j].kind, 0)
                    j += 1
                if depth:
                    raise GoTemplateError(f"{where}: unclosed left paren")
                inner = self.pipe(toks[i : j - 1], where)
                names: tuple = ()
                if j < len(toks) and toks[j].kind == "field" and toks[j].glued:
                    names, j = toks[j].value, j + 1
                operands.append(("paren", inner, names))
                i = j
            elif tok.kind in ("str", "int", "bool", "nil"):
                operands.append(("lit", tok.value))
            elif tok.kind == "dot":
                operands.append(("dot",))
            elif tok.kind == "field":
                operands.append(("field", tok.value))
            elif tok.kind == "var":
                if tok.value[0] not in self.scope:
                    raise GoTemplateError(f"{where}: undefined variable {tok.value[0]}")
                operands.append(("var", *tok.value))
            elif tok.kind == "ident":
                if tok.value not in _FUNC_NAMES:
                    raise GoTemplateError(f"{where}: function {tok.value!r} not defined (or not supported)")
                operands.append(("fn", tok.value))
            else:
                raise GoTemplateError(f"{where}: unexpected {tok.kind!r} in command")
        if operands[0] == ("lit", None) and len(operands) == 1:
            raise GoTemplateError(f"{where}: nil is not a command")
        if operands[0][0] == "fn" and ("lit", None) in operands[1:]:  # Go's built-ins take no untyped nil
            raise GoTemplateError(f"{where}: cannot use nil as an argument of {operands[0][1]}")
        if operands[0][0] != "fn" and len(operands) > 1:
            raise GoTemplateError(f"{where}: can't give argument to non-function")
        return operands


# --- evaluator ---------------------------------------------------------------------------------------------


def _kind(v) -> str:
    kinds = ((bool, "bool"), (int, "int"), (str, "str"), (list, "list"), (tuple, "list"), (dict, "map"))
    for t, name in kinds:
        if isinstance(v, t):
            return name
    return "nil" if v is None else type(v).__name__


def _text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(_text(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_text(v[k])}" for k in sorted(v)) + "]"
    return str(v)


def _eq(a, *others) -> bool:
    if not others:
        raise _Fail("missing argument for comparison")
    for b in others:
        if a is None or b is None:
            truth = a is None and b is None
        elif _kind(a) != _kind(b):
            raise _Fail(f"incompatible types for comparison: {_kind(a)} and {_kind(b)}")
        elif _kind(a) in ("list", "map"):
            raise _Fail(f"non-comparable type: {_kind(a)}")
        else:
            truth = a == b
        if truth:
            return True
    return False


def _ordered(op):
    def compare(a, b) -> bool:
        if _kind(a) != _kind(b) or _kind(a) not in ("int", "str"):
            raise _Fail(f"incompatible types for comparison: {_kind(a)} and {_kind(b)}")
        return op(a, b)

    return compare


def _len(x) -> int:
    if isinstance(x, str):
        return len(x.encode())  # Go counts bytes
    if isinstance(x, (list, tuple, dict)):
        return len(x)
    raise _Fail(f"len of type {_kind(x)}")


def _slice(x, *idx):
    if not isinstance(x, (str, list, tuple)) or len(idx) > 2 or any(_kind(i) != "int" for i in idx):
        raise _Fail(f"can't slice {_kind(x)} with {len(idx)} integer indexes")
    seq = x.encode() if isinstance(x, str) else x  # Go slices strings by bytes
    lo = idx[0] if idx else 0
    hi = idx[1] if len(idx) > 1 else len(seq)
    if not 0 <= lo <= hi <= len(seq):
        raise _Fail(f"index out of range: [{lo}:{hi}] with length {len(seq)}")
    return seq[lo:hi].decode(errors="replace") if isinstance(x, str) else seq[lo:hi]


def _index(x, *keys):
    for key in keys:
        if isinstance(x, dict):
            x = x.get(key)
        elif isinstance(x, (list, tuple, str)) and _kind(key) == "int":
            seq = x.encode() if isinstance(x, str) else x
            if not 0 <= key < len(seq):
                raise _Fail(f"index out of range: {key}")
            x = seq[key]
        else:
            raise _Fail(f"can't index item of type {_kind(x)} with {_kind(key)}")
    return x


def _arity(name, fn, n):
    def call(*args):
        if len(args) != n:
            raise _Fail(f"wrong number of args for {name}: want {n} got {len(args)}")
        return fn(*args)

    return call


_FUNCS = {
    "eq": _eq,
    "ne": _arity("ne", lambda a, b: not _eq(a, b), 2),
    "lt": _arity("lt", _ordered(lambda a, b: a < b), 2),
    "le": _arity("le", _ordered(lambda a, b: a <= b), 2),
    "gt": _arity("gt", _ordered(lambda a, b: a > b), 2),
    "ge": _arity("ge", _ordered(lambda a, b: a >= b), 2),
    "not": _arity("not", lambda a: not _truth(a), 1),
    "len": _arity("len", _len, 1),
    "slice": _slice,
    "index": _index,
}
_MIN_ARGS = {"eq": 2, "slice": 1, "index": 1}
_NO_VALUE = object()


def _truth(v) -> bool:
    return bool(v)  # false, 0, nil and empty strings, lists and maps are false, as in Go


class _Exec:
    def __init__(self, data) -> None:
        self.vars: list[list] = [["$", data]]
        self.out: list[str] = []

    def walk(self, nodes: list, dot) -> None:
        for node in nodes:
            if isinstance(node, str):
                self.out.append(node)
                continue
            try:
                if isinstance(node, _Output):
                    value = self.pipe(node.pipe, dot)
                    if not node.pipe.decl:
                        self.out.append(_text(value))
                else:
                    self.control(node, dot)
            except _Fail as e:
                raise GoTemplateError(f"{node.where}: {e}") from None

    def control(self, node: _Control, dot) -> None:
        mark = len(self.vars)
        value = self.pipe(node.pipe, dot)
        if node.kind == "range":
            if isinstance(value, dict):
                pairs = sorted(value.items())  # Go visits map keys in sorted order
            elif isinstance(value, (list, tuple)) or value is None:
                pairs = list(enumerate(value or []))
            elif _kind(value) == "int":  # Go 1.22: range over an integer counts from 0
                pairs = [(i, i) for i in range(value)]
            else:
                raise _Fail(f"range can't iterate over {_kind(value)}")
            for index, elem in pairs:
                if node.pipe.decl:
                    self.vars[-1][1] = elem
                if len(node.pipe.decl) > 1:
                    self.vars[-2][1] = index
                inner = len(self.vars)
                self.walk(node.body, elem)
                del self.vars[inner:]
            if not pairs and node.else_body is not None:
                self.walk(node.else_body, dot)
        elif _truth(value):
            self.walk(node.body, value if node.kind == "with" else dot)
        elif node.else_body is not None:
            self.walk(node.else_body, dot)
        del self.vars[mark:]

    def pipe(self, pipe: _Pipe, dot):
        value = _NO_VALUE
        for cmd in pipe.cmds:
            value = self.command(cmd, dot, value)
        for name in pipe.decl:
            if pipe.assign:
                self.variable(name)[1] = value
            else:
                self.vars.append([name, value])
        return value

    def command(self, cmd: list[tuple], dot, piped):
        head = cmd[0]
        if head[0] != "fn":
            if piped is not _NO_VALUE:
                raise _Fail("can't give argument to non-function")
            return self.operand(head, dot)
        name, args = head[1], cmd[1:]
        if name in ("and", "or"):  # short-circuit: evaluate arguments only as needed, return the decider
            thunks: list[Callable[[], Any]] = [functools.partial(self.operand, a, dot) for a in args]
            if piped is not _NO_VALUE:
                thunks.append(lambda: piped)
            if not thunks:
                raise _Fail(f"wrong number of args for {name}: want at least 1 got 0")
            for thunk in thunks:
                value = thunk()
                if _truth(value) == (name == "or"):
                    return value
            return value
        values = [self.operand(a, dot) for a in args]
        if piped is not _NO_VALUE:
            values.append(piped)
        if len(values) < _MIN_ARGS.get(name, 0):
            raise _Fail(f"wrong number of args for {name}: want at least {_MIN_ARGS[name]} got {len(values)}")
        return _FUNCS[name](*values)

    def operand(self, op: tuple, dot):
        if op[0] == "lit":
            return op[1]
        if op[0] == "dot":
            return dot
        if op[0] == "field":
            return self.fields(dot, op[1])
        if op[0] == "var":
            return self.fields(self.variable(op[1])[1], op[2])
        if op[0] == "paren":
            return self.fields(self.pipe(op[1], dot), op[2])
        raise _Fail(f"function {op[1]} used as a value without arguments")

    def variable(self, name: str) -> list:
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry
        raise _Fail(f"undefined variable: {name}")  # declared in a branch that did not run

    @staticmethod
    def fields(value, names: tuple):
        for name in names:
            if isinstance(value, dict):
                value = value.get(name)
            elif value is not None:
                raise _Fail(f"can't evaluate field {name} in type {_kind(value)}")
        return value


def render(template: str, data: dict) -> str:
    """Execute a Go text/template (the subset described above) on `data`; raise GoTemplateError."""
    nodes, _ = _Parser(_scan(template)).parse_list(set())
    executor = _Exec(data)
    executor.walk(nodes, data)
    return "".join(executor.out)
