"""Mutants of one module's source: found on the AST, written by editing only the mutated tokens.

Each mutant replaces one span of the source (character positions from the AST and `tokenize`);
the rest of the file stays byte for byte, and a replacement never changes the number of lines, so
line numbers in the mutated module are those of the original.

Operators (docs/testing.md, "Mutation testing"):

- comparison: `<` <-> `<=`, `>` <-> `>=` (the boundary; a test that tells `<` from `<=` at the
  boundary also tells it from `>=`), `==` <-> `!=`, `is` <-> `is not`, `in` <-> `not in`;
- constant: an int or float literal n -> n + 1 and n - 1 (`-1` is one literal);
- boolean: `and` <-> `or`, `not x` -> `x`, `True` <-> `False`;
- arithmetic: `+` <-> `-` (binary and augmented);
- statement: inside a function, an expression statement (a call), an assignment, an augmented or
  annotated assignment, or a `raise` -> `pass`; `return <expr>` -> `return None`.

Not mutated: string literals and f-strings (messages), docstrings, type annotations, decorators
(wiring: `lru_cache(maxsize=...)`, `dataclass(frozen=True)`, `receiver(...)`), logging calls
(`logger.*`, `log.*`, `logging.*`: logs are not rules), and statements at module or class level
(removing a definition only makes a NameError, which any import finds).
"""

from __future__ import annotations

import ast
import hashlib
import io
import tokenize
from dataclasses import dataclass

LOG_NAMES = frozenset({"logger", "log", "logging", "_logger", "_log", "LOGGER"})

_COMPARE_SWAPS: dict[type[ast.cmpop], tuple[str, type[ast.cmpop], str]] = {
    ast.Lt: ("<", ast.LtE, "<="),
    ast.LtE: ("<=", ast.Lt, "<"),
    ast.Gt: (">", ast.GtE, ">="),
    ast.GtE: (">=", ast.Gt, ">"),
    ast.Eq: ("==", ast.NotEq, "!="),
    ast.NotEq: ("!=", ast.Eq, "=="),
    ast.Is: ("is", ast.IsNot, "is not"),
    ast.IsNot: ("is not", ast.Is, "is"),
    ast.In: ("in", ast.NotIn, "not in"),
    ast.NotIn: ("not in", ast.In, "in"),
}
_COMPARE_TOKENS = frozenset({"<", "<=", ">", ">=", "==", "!=", "is", "not", "in"})


@dataclass(frozen=True)
class Mutant:
    number: int  # 1-based, in source order: stable while the module's source does not change
    line: int
    operator: str  # comparison, constant, boolean, arithmetic, statement
    description: str  # "`<` -> `<=`", with " (2nd on the line)" when the same change occurs twice
    line_text: str  # the mutated line, stripped: with `description`, the key of an equivalent mutant
    start: tuple[int, int]  # (line, column) in characters, line 1-based
    end: tuple[int, int]
    replacement: str

    @property
    def key(self) -> str:
        """A short id that survives edits elsewhere in the module (not a rename of the line)."""
        digest = hashlib.sha1(f"{self.line_text}\0{self.description}".encode(), usedforsecurity=False)
        return digest.hexdigest()[:8]

    @property
    def title(self) -> str:
        return f"line {self.line}: {self.description}"


class _Source:
    """The source as lines, with AST byte offsets turned into character offsets."""

    def __init__(self, text: str):
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.tokens = [
            tok
            for tok in tokenize.generate_tokens(io.StringIO(text).readline)
            if tok.type in (tokenize.OP, tokenize.NAME)
        ]

    def char_col(self, lineno: int, byte_col: int) -> int:
        return len(self.lines[lineno - 1].encode("utf-8")[:byte_col].decode("utf-8"))

    def start(self, node: ast.AST) -> tuple[int, int]:
        return node.lineno, self.char_col(node.lineno, node.col_offset)

    def end(self, node: ast.AST) -> tuple[int, int]:
        return node.end_lineno, self.char_col(node.end_lineno, node.end_col_offset)

    def tokens_between(self, start: tuple[int, int], end: tuple[int, int]) -> list[tokenize.TokenInfo]:
        return [tok for tok in self.tokens if tok.start >= start and tok.end <= end]

    def line_text(self, lineno: int) -> str:
        return self.lines[lineno - 1].strip()

    def replace(self, start: tuple[int, int], end: tuple[int, int], replacement: str) -> str:
        """The source with start..end replaced; blank lines keep the line count when it shrank."""
        (l1, c1), (l2, c2) = start, end
        head = self.lines[l1 - 1][:c1]
        tail = self.lines[l2 - 1][c2:]
        lost = (l2 - l1) - replacement.count("\n")
        middle = head + replacement + tail + "\n" * max(lost, 0)
        return "".join([*self.lines[: l1 - 1], middle, *self.lines[l2:]])


def _is_docstring(node: ast.stmt, parent: ast.AST | None) -> bool:
    body = getattr(parent, "body", None)
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        and isinstance(parent, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and bool(body)
        and body[0] is node
    )


def is_log_call(node: ast.AST) -> bool:
    """`logger.info(...)`, `log.warning(...)`, `logging.debug(...)`, `self.logger.error(...)`."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    base = node.func.value
    if isinstance(base, ast.Name):
        return base.id in LOG_NAMES
    return isinstance(base, ast.Attribute) and base.attr in LOG_NAMES


def _literal(value: int | float) -> str:
    return repr(value)


class _Finder(ast.NodeVisitor):
    def __init__(self, source: _Source):
        self.source = source
        self.found: list[tuple[tuple[int, int], tuple[int, int], str, str, str, int]] = []
        self.function_depth = 0

    def add(self, start, end, replacement: str, operator: str, description: str, line: int) -> None:
        self.found.append((start, end, replacement, operator, description, line))

    # --- what is never mutated ---------------------------------------------------------------

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        # Decorators, annotations and the return annotation are skipped; defaults are mutated.
        for default in [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]:
            self.visit(default)
        self.function_depth += 1
        self._visit_body(node)
        self.function_depth -= 1

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for default in [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]:
            self.visit(default)
        self.visit(node.body)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for keyword in node.keywords:
            self.visit(keyword)
        for base in node.bases:
            self.visit(base)
        self._visit_body(node)

    def _visit_body(self, node: ast.AST) -> None:
        for stmt in node.body:
            if _is_docstring(stmt, node):
                continue
            self._statement(stmt, node)

    def _statement(self, stmt: ast.stmt, parent: ast.AST) -> None:
        if isinstance(stmt, ast.Expr) and is_log_call(stmt.value):
            return
        if self.function_depth and not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            self._statement_removal(stmt)
        if isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                self.visit(stmt.value)
            return
        self.visit(stmt)

    def generic_visit(self, node: ast.AST) -> None:
        # Statements nested in if/for/while/with/try bodies go through _statement too.
        for field, value in ast.iter_fields(node):
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.stmt):
                        if _is_docstring(item, node):
                            continue
                        self._statement(item, node)
                    elif isinstance(item, ast.AST):
                        self.visit(item)
            elif isinstance(value, ast.AST):
                if field in ("annotation", "returns"):
                    continue
                self.visit(value)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        return  # f-strings are messages

    def visit_Call(self, node: ast.Call) -> None:
        if is_log_call(node):
            return
        self.generic_visit(node)

    # --- statements --------------------------------------------------------------------------

    def _statement_removal(self, stmt: ast.stmt) -> None:
        src = self.source
        if isinstance(stmt, ast.Return):
            value = stmt.value
            if value is None or (isinstance(value, ast.Constant) and value.value is None):
                return
            self.add(
                src.start(value),
                src.end(value),
                "None",
                "statement",
                "`return …` -> `return None`",
                stmt.lineno,
            )
            return
        removable = ast.Assign | ast.AugAssign | ast.Raise
        if isinstance(stmt, ast.Expr):
            if isinstance(stmt.value, ast.Constant):
                return  # a stray string or `...`
        elif isinstance(stmt, ast.AnnAssign):
            if stmt.value is None:
                return
        elif not isinstance(stmt, removable):
            return
        first = src.line_text(stmt.lineno)
        shown = first if len(first) <= 60 else first[:57] + "..."
        self.add(src.start(stmt), src.end(stmt), "pass", "statement", f"removed `{shown}`", stmt.lineno)

    # --- expressions -------------------------------------------------------------------------

    def visit_Compare(self, node: ast.Compare) -> None:
        src = self.source
        operands = [node.left, *node.comparators]
        for index, op in enumerate(node.ops):
            swap = _COMPARE_SWAPS.get(type(op))
            if swap is None:
                continue
            old_text, _new_type, new_text = swap
            toks = [
                tok
                for tok in src.tokens_between(src.end(operands[index]), src.start(operands[index + 1]))
                if tok.string in _COMPARE_TOKENS
            ]
            if not toks:
                continue
            self.add(
                toks[0].start,
                toks[-1].end,
                new_text,
                "comparison",
                f"`{old_text}` -> `{new_text}`",
                toks[0].start[0],
            )
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        src = self.source
        old, new = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
        toks = []
        for left, right in zip(node.values, node.values[1:], strict=False):
            toks += [tok for tok in src.tokens_between(src.end(left), src.start(right)) if tok.string == old]
        if toks:
            # One mutant flips every operator of the chain: `a and b and c` -> `a or b or c`.
            self.found.append(("multi", [(t.start, t.end) for t in toks], new, "boolean",
                               f"`{old}` -> `{new}`", toks[0].start[0]))  # fmt: skip
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        src = self.source
        if isinstance(node.op, ast.Not):
            toks = src.tokens_between(src.start(node), src.start(node.operand))
            nots = [tok for tok in toks if tok.string == "not"]
            if nots:
                tok = nots[0]
                line = src.lines[tok.start[0] - 1]
                end_col = tok.end[1]
                while end_col < len(line) and line[end_col] == " ":
                    end_col += 1
                self.add(tok.start, (tok.end[0], end_col), "", "boolean", "removed `not`", tok.start[0])
        elif (
            isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant)
            and type(node.operand.value) in (int, float)
        ):
            value = -node.operand.value
            self._constant(node, value)
            return
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bool):
            new = "False" if value else "True"
            self.add(
                self.source.start(node),
                self.source.end(node),
                new,
                "boolean",
                f"`{value}` -> `{new}`",
                node.lineno,
            )
        elif type(value) in (int, float):
            self._constant(node, value)

    def _constant(self, node: ast.AST, value: int | float) -> None:
        src = self.source
        shown = src.lines[node.lineno - 1][src.start(node)[1] : src.end(node)[1]] or _literal(value)
        for new_value in (value + 1, value - 1):
            new = _literal(new_value)
            self.add(src.start(node), src.end(node), new, "constant", f"`{shown}` -> `{new}`", node.lineno)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        self._arithmetic(node.left, node.right, node.op)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._arithmetic(node.target, node.value, node.op, augmented=True)
        self.visit(node.value)

    def _arithmetic(self, left: ast.AST, right: ast.AST, op: ast.operator, augmented: bool = False) -> None:
        if not isinstance(op, ast.Add | ast.Sub):
            return
        src = self.source
        old, new = ("+", "-") if isinstance(op, ast.Add) else ("-", "+")
        if augmented:
            old, new = old + "=", new + "="
        toks = [tok for tok in src.tokens_between(src.end(left), src.start(right)) if tok.string == old]
        if toks:
            tok = toks[-1]
            self.add(tok.start, tok.end, new, "arithmetic", f"`{old}` -> `{new}`", tok.start[0])


def _ordinal(n: int) -> str:
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10 if n % 100 not in (11, 12, 13) else 0, "th")
    return f"{n}{suffix}"


def find_mutants(text: str) -> list[Mutant]:
    """Every mutant of the source, in source order, numbered from 1."""
    source = _Source(text)
    tree = ast.parse(text)
    finder = _Finder(source)
    for stmt in tree.body:
        if _is_docstring(stmt, tree):
            continue
        finder._statement(stmt, tree)
    raw = []
    for start, end, replacement, operator, description, line in finder.found:
        if start == "multi":
            spans = end
            raw.append((spans[0][0], spans[-1][1], spans, replacement, operator, description, line))
        else:
            raw.append((start, end, [(start, end)], replacement, operator, description, line))
    raw.sort(key=lambda r: (r[0], r[1], r[4], r[3]))
    mutants = []
    seen: dict[tuple[str, str], int] = {}
    for start, end, spans, replacement, operator, description, line in raw:
        line_text = source.line_text(line)
        count = seen[(line_text, description)] = seen.get((line_text, description), 0) + 1
        if count > 1:
            description = f"{description} ({_ordinal(count)} on the line)"
        if len(spans) > 1:
            # Flips of a chain: the replacement is the whole start..end text with each operator swapped.
            replacement = _replace_spans(source, spans, replacement)
        mutants.append(
            Mutant(
                number=len(mutants) + 1,
                line=line,
                operator=operator,
                description=description,
                line_text=line_text,
                start=start,
                end=end,
                replacement=replacement,
            )
        )
    return mutants


def _replace_spans(source: _Source, spans, replacement: str) -> str:
    """The text from the first span's start to the last span's end, every span replaced."""
    text_lines = source.lines
    out = []
    pos = spans[0][0]
    for start, end in spans:
        out.append(_slice(text_lines, pos, start))
        out.append(replacement)
        pos = end
    return "".join(out)


def _slice(lines: list[str], start: tuple[int, int], end: tuple[int, int]) -> str:
    (l1, c1), (l2, c2) = start, end
    if l1 == l2:
        return lines[l1 - 1][c1:c2]
    return lines[l1 - 1][c1:] + "".join(lines[l1 : l2 - 1]) + lines[l2 - 1][:c2]


def mutate(text: str, mutant: Mutant) -> str:
    """The source with one mutant applied (same number of lines)."""
    return _Source(text).replace(mutant.start, mutant.end, mutant.replacement)


def compiles(text: str, filename: str = "<mutant>") -> bool:
    try:
        compile(text, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def diff(text: str, mutant: Mutant, filename: str = "module") -> str:
    import difflib

    mutated = mutate(text, mutant)
    return "".join(
        difflib.unified_diff(
            text.splitlines(keepends=True),
            mutated.splitlines(keepends=True),
            f"a/{filename}",
            f"b/{filename}",
            n=2,
        )
    )
