"""Which names a notebook cell defines and which it reads, found by reading its code with `ast`.

The notebook recalculates like a spreadsheet: after a cell runs, every later cell that reads a
name it defines runs again. For that each cell needs:

- defines: names the cell binds at its top level — assignment (also tuple unpacking, augmented
  assignment and `:=`), `for`/`with`/`except`/`match` targets, `def`, `class`, `import`, `del`,
  and names its functions declare `global` and assign. Changing a value from another cell in place
  with `x[i] = ...`, `x.attr = ...` or `x += ...` also counts as redefining `x` (see `mutates`).
- reads: names the cell looks up that its own code has not bound before the lookup, including
  the free names of its function and lambda bodies (looked up later, when called). Builtins are
  kept apart in `builtins_read`: they matter only when some cell rebinds them (`max = 3`).
- mutates: the names of `defines` whose value came from outside the cell and is changed in place;
  the notebook gives the cell its own copy so re-running it does not change the upstream value.
- function_globals: for each top-level name bound to a function or class, the global names its
  body looks up when called, so a cell calling `f()` also depends on the names `f` uses.

The analysis is conservative: when unsure it reports a read (an extra dependency only costs a
re-run). It cannot see names created dynamically (`globals()[...] = ...`, `exec`, `import *`), nor
in-place changes made by calling methods (`xs.append(...)`).
"""
from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

BUILTIN_NAMES = frozenset(dir(builtins))


@dataclass(frozen=True)
class CellNames:
    defines: frozenset[str] = frozenset()
    reads: frozenset[str] = frozenset()
    builtins_read: frozenset[str] = frozenset()
    mutates: frozenset[str] = frozenset()
    function_globals: dict[str, frozenset[str]] = field(default_factory=dict)
    star_import: bool = False


def analyze_cell(source: str) -> CellNames:
    """The names `source` defines and reads. Raises SyntaxError (or ValueError) if it does not parse."""
    tree = ast.parse(source)
    analyzer = _CellAnalyzer()
    analyzer.visit_cell(tree.body)
    return analyzer.result()


class _Scope:
    """One Python scope while walking the code.

    A cell or class body runs top to bottom, so `names` grows as bindings are met. Function and
    comprehension scopes are decided by Python up front (a name bound anywhere in a function is
    local everywhere in it), so their `names` are collected before the body is walked.
    """

    def __init__(self, kind: str, parent: _Scope | None, names=(), global_names=()):
        self.kind = kind  # "cell" | "class" | "function" | "comprehension"
        self.parent = parent
        self.names = set(names)
        self.global_names = set(global_names)


class _CellAnalyzer(ast.NodeVisitor):
    def __init__(self):
        self.cell = _Scope("cell", None)
        self.scope = self.cell
        self.defines: set[str] = set()
        self.reads: set[str] = set()
        self.builtins_read: set[str] = set()
        self.mutates: set[str] = set()
        self.function_globals: dict[str, frozenset[str]] = {}
        self.star_import = False
        self.function_depth = 0  # > 0 inside a function or lambda body: lookups happen when called
        self.call_time_names: set[str] = set()  # global lookups of the bodies in the current statement
        self.statement_defines: set[str] = set()  # names the current top-level statement defines

    def result(self) -> CellNames:
        return CellNames(
            defines=frozenset(self.defines),
            reads=frozenset(self.reads),
            builtins_read=frozenset(self.builtins_read),
            mutates=frozenset(self.mutates),
            function_globals=dict(self.function_globals),
            star_import=self.star_import,
        )

    def visit_cell(self, statements: list[ast.stmt]) -> None:
        for statement in statements:
            self.call_time_names = set()
            self.statement_defines = set()
            self.visit(statement)
            # the names this statement bound now carry what its function bodies look up when called
            for name in self.statement_defines:
                if self.call_time_names:
                    self.function_globals[name] = frozenset(self.call_time_names)
                else:
                    self.function_globals.pop(name, None)

    # -- resolving a name ------------------------------------------------------------------

    def _resolves_in_cell(self, name: str) -> bool:
        """True if the lookup reaches the cell's level (rather than a function, class or comprehension)."""
        scope = self.scope
        if name in scope.global_names:
            return True
        start = scope
        while scope is not self.cell:
            # class bodies are visible only to their own direct code, not to functions inside them
            if (scope.kind != "class" or scope is start) and name in scope.names:
                return False
            scope = scope.parent
        return True

    def _load(self, name: str) -> bool:
        """Record a lookup of `name`. Returns True if its value comes from outside the cell."""
        if not self._resolves_in_cell(name):
            return False
        if self.function_depth:
            self.call_time_names.add(name)
        if name in self.cell.names:
            return False
        (self.builtins_read if name in BUILTIN_NAMES else self.reads).add(name)
        return True

    def _define(self, name: str) -> None:
        self.defines.add(name)
        self.statement_defines.add(name)

    def _store(self, name: str, scope: _Scope | None = None) -> None:
        scope = scope or self.scope
        if name in scope.global_names:
            self._define(name)  # assigned when the function runs; not bound in the cell yet
        elif scope is self.cell:
            self._define(name)
            self.cell.names.add(name)
        elif scope.kind == "class":
            scope.names.add(name)
        # function and comprehension locals were collected up front

    def _delete(self, name: str) -> None:
        self._load(name)  # `del x` needs x to exist
        if self.scope is self.cell:
            self._define(name)
            self.cell.names.discard(name)
        elif name in self.scope.global_names:
            self._define(name)
        elif self.scope.kind == "class":
            self.scope.names.discard(name)

    def _mutate(self, target: ast.expr) -> None:
        """`x[i] = ...`, `x.a = ...`, `del x[i]` at the cell's top level change x itself."""
        while isinstance(target, (ast.Subscript, ast.Attribute)):
            target = target.value
        if isinstance(target, ast.Name) and self.scope is self.cell and target.id not in self.cell.names:
            self._define(target.id)
            self.mutates.add(target.id)

    # -- names --------------------------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._load(node.id)
        elif isinstance(node.ctx, ast.Store):
            self._store(node.id)
        else:
            self._delete(node.id)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self.visit(node.value)
        self.visit(node.slice)
        if not isinstance(node.ctx, ast.Load):
            self._mutate(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.visit(node.value)
        if not isinstance(node.ctx, ast.Load):
            self._mutate(node)

    # -- statements, in the order Python evaluates their parts -----------------------------

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self.visit(target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.annotation)
        if node.value is None:
            if not isinstance(node.target, ast.Name):  # `x.a: int` still evaluates x
                self.visit(node.target.value)
            return
        self.visit(node.value)
        self.visit(node.target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name):
            name = node.target.id
            from_outside = self._load(name)
            self.visit(node.value)
            if from_outside and self.scope is self.cell:
                self.mutates.add(name)  # `x += 1` changes an ndarray in place
            self._store(name)
        else:
            self.visit(node.target)
            self.visit(node.value)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        scope = self.scope
        while scope.kind == "comprehension":  # `:=` in a comprehension binds in the enclosing scope
            scope = scope.parent
        if scope is self.cell or scope.kind == "class" or node.target.id in scope.global_names:
            self._store(node.target.id, scope)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        self.visit(node.target)
        self._visit_all(node.body)
        self._visit_all(node.orelse)

    visit_AsyncFor = visit_For

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self.visit(item.optional_vars)
        self._visit_all(node.body)

    visit_AsyncWith = visit_With

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self._store(node.name)
        self._visit_all(node.body)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._store(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                self.star_import = True
            else:
                self._store(alias.asname or alias.name)

    def visit_Global(self, node: ast.Global) -> None:
        pass  # collected with the function's locals

    visit_Nonlocal = visit_Global

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.pattern is not None:
            self.visit(node.pattern)
        if node.name:
            self._store(node.name)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self._store(node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        self._visit_all(node.keys)
        self._visit_all(node.patterns)
        if node.rest:
            self._store(node.rest)

    # -- new scopes ---------------------------------------------------------------------------

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._visit_all(node.decorator_list)
        self._visit_signature(node.args)
        if node.returns is not None:
            self.visit(node.returns)
        self._store(node.name)  # bound before the body can run, so recursion is not a read
        self._visit_function_body(node, node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._visit_all(node.args.defaults)
        self._visit_all([d for d in node.args.kw_defaults if d is not None])
        self._visit_function_body(node, [node.body])

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._visit_all(node.decorator_list)
        self._visit_all(node.bases)
        self._visit_all(node.keywords)
        self.scope = _Scope("class", self.scope)
        self._visit_all(node.body)
        self.scope = self.scope.parent
        self._store(node.name)

    def visit_ListComp(self, node) -> None:
        self._visit_comprehension(node.generators, [node.elt])

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._visit_comprehension(node.generators, [node.key, node.value])

    def _visit_signature(self, args: ast.arguments) -> None:
        """Defaults and annotations are evaluated where the function is defined."""
        self._visit_all(args.defaults)
        self._visit_all([d for d in args.kw_defaults if d is not None])
        for arg in _all_args(args):
            if arg.annotation is not None:
                self.visit(arg.annotation)

    def _visit_function_body(self, node, body: list) -> None:
        local_names, global_names = _function_locals(node)
        self.scope = _Scope("function", self.scope, local_names, global_names)
        self.function_depth += 1
        self._visit_all(body)
        self.function_depth -= 1
        self.scope = self.scope.parent

    def _visit_comprehension(self, generators: list[ast.comprehension], results: list) -> None:
        self.visit(generators[0].iter)  # the first iterable is evaluated in the enclosing scope
        targets = set().union(*(_bound_names(g.target) for g in generators))
        self.scope = _Scope("comprehension", self.scope, targets)
        for index, generator in enumerate(generators):
            if index:
                self.visit(generator.iter)
            self.visit(generator.target)
            self._visit_all(generator.ifs)
        self._visit_all(results)
        self.scope = self.scope.parent

    def _visit_all(self, nodes) -> None:
        for node in nodes:
            self.visit(node)


def _all_args(args: ast.arguments) -> list[ast.arg]:
    extra = [a for a in (args.vararg, args.kwarg) if a is not None]
    return [*args.posonlyargs, *args.args, *args.kwonlyargs, *extra]


def _bound_names(target: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}


def _function_locals(node) -> tuple[set[str], set[str]]:
    """(locals, names declared global) of a function or lambda, the way Python's compiler decides."""
    collector = _LocalsCollector()
    if isinstance(node, ast.Lambda):
        collector.visit(node.body)
    else:
        collector.names.update(p.name for p in getattr(node, "type_params", ()))  # Python 3.12+ generics
        collector.visit_all(node.body)
    collector.names.update(a.arg for a in _all_args(node.args))
    return collector.names - collector.global_names - collector.nonlocal_names, collector.global_names


class _LocalsCollector(ast.NodeVisitor):
    """Every name bound directly in a function body (not inside nested functions or classes)."""

    def __init__(self):
        self.names: set[str] = set()
        self.global_names: set[str] = set()
        self.nonlocal_names: set[str] = set()

    def visit_all(self, nodes) -> None:
        for node in nodes:
            self.visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load):
            self.names.add(node.id)

    def visit_Global(self, node: ast.Global) -> None:
        self.global_names.update(node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.nonlocal_names.update(node.names)

    def visit_FunctionDef(self, node) -> None:
        self.names.add(node.name)
        self.visit_all(node.decorator_list)
        self.visit_all(node.args.defaults)
        self.visit_all([d for d in node.args.kw_defaults if d is not None])

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.names.add(node.name)
        self.visit_all(node.decorator_list)
        self.visit_all(node.bases)
        self.visit_all(node.keywords)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.visit_all(node.args.defaults)
        self.visit_all([d for d in node.args.kw_defaults if d is not None])

    def visit_comprehension(self, node: ast.comprehension) -> None:
        # its target is the comprehension's own local; only `:=` inside binds in the function
        self.visit(node.iter)
        self.visit_all(node.ifs)

    def visit_Import(self, node: ast.Import) -> None:
        self.names.update(a.asname or a.name.split(".")[0] for a in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.names.update(a.asname or a.name for a in node.names if a.name != "*")

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.names.add(node.name)
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.name:
            self.names.add(node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self.names.add(node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest:
            self.names.add(node.rest)
        self.generic_visit(node)
