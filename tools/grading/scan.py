"""Grading, part 1: the static scan of a submission's code cells.

:func:`scan_notebook` parses each code cell with :mod:`ast` (``!`` and ``%`` lines turned into the calls they
make) and lists the known ways a notebook can reach the grader, the tests or the testing functions: imports
of ``otter``, assignments to attributes of objects the notebook did not define, ``sys.modules``, frames,
``exec``, file writes, shell commands, hidden builtins... Each reason names the cell. A scan is a list of
known ways in, not a proof: :mod:`tools.grading.kernel` checks the kernel itself.
"""

from __future__ import annotations

import ast
import re

from tools.grading.build import OTTER_INIT

#: Modules (and names in them) a submission may not import or use: they reach the grader, the
#: interpreter's internals, other processes or the file system.
FORBIDDEN_PATHS = tuple(
    """
    otter builtins importlib ctypes gc subprocess shutil threading _thread multiprocessing
    concurrent signal atexit pickle marshal dill cloudpickle runpy code codeop pty socket
    types.FunctionType types.CodeType types.ModuleType types.LambdaType sys.modules
    sys._getframe sys.settrace sys.setprofile sys.addaudithook sys.meta_path sys.path_hooks
    sys.path_importer_cache sys.displayhook sys.excepthook sys.breakpointhook
    inspect.currentframe inspect.stack inspect.trace inspect.getouterframes
    inspect.getinnerframes inspect.getframeinfo inspect.getmembers os.system os.popen os.remove
    os.unlink os.rmdir os.removedirs os.rename os.renames os.replace os.truncate os.ftruncate
    os.write os.open os.fdopen os.chdir os.fchdir os.chmod os.chown os.link os.symlink os.kill
    os.killpg os.fork os.forkpty os.exec* os.spawn* os.posix_spawn* os.startfile os.mkfifo
    os._exit __main__ pkgutil.resolve_name
    """.split()
)
#: Names that reach the interpreter, the kernel or its history, whatever the submission imported.
FORBIDDEN_NAMES = frozenset(
    """
    __import__ __builtins__ __loader__ __spec__ exec eval compile globals locals vars
    breakpoint get_ipython In Out _ih _oh _dh _i _ii _iii
    """.split()
)
#: Attributes that reach code objects, frames, namespaces or class internals.
FORBIDDEN_ATTRIBUTES = frozenset(
    """
    __code__ __globals__ __dict__ __builtins__ __subclasses__ __bases__ __base__ __mro__
    __closure__ __defaults__ __kwdefaults__ __func__ __self__ __wrapped__ __getattribute__
    __setattr__ __delattr__ __import__ __loader__ __spec__ __reduce__ __reduce_ex__ f_back
    f_globals f_locals f_builtins f_code gi_frame cr_frame ag_frame tb_frame co_code user_ns
    user_global_ns
    """.split()
)
#: Methods that write or remove files, whatever object they are called on.
WRITING_METHODS = frozenset(
    """
    write_text write_bytes unlink rmdir touch symlink_to hardlink_to chmod
    """.split()
)
#: Line and cell magics a submission may use; the code they run is scanned too.
ALLOWED_MAGICS = {"time", "timeit", "matplotlib", "capture"}
#: Assignments into library objects that are configuration, not patching.
ALLOWED_LIBRARY_TARGETS = (
    "os.environ[]",
    "matplotlib.rcParams[]",
    "matplotlib.pyplot.rcParams[]",
    "pandas.options.",
)
#: String literals that name the grader or its files.
GRADER_STRINGS = re.compile(
    r"otter|autograder|(^|[/\\.])tests([/\\]|$)|\bq\d+\.py\b", re.IGNORECASE
)
GRADER_CALLS = {"check", "check_all", "export", "to_pdf"}
HISTORY_NAME = re.compile(r"^_i?\d+$")


def _forbidden_path(path: str) -> bool:
    for pattern in FORBIDDEN_PATHS:
        if pattern.endswith("*"):
            if path.startswith(pattern[:-1]):
                return True
        elif path == pattern or path.startswith(pattern + "."):
            return True
    return False


def _python_of(source: str) -> str:
    """The Python an IPython cell runs (``!cmd`` and ``%magic`` lines become calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _is_grader_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "grader"
        and node.func.attr in GRADER_CALLS
    )


def _magic(node: ast.Call) -> tuple[str, list] | None:
    """``("system", args)``, ``("run_line_magic", args)``... for ``get_ipython().<method>(...)``."""
    func = node.func
    if (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "get_ipython"
        and not func.value.args
    ):
        return func.attr, node.args
    return None


class _Names(ast.NodeVisitor):
    """The names a notebook binds: by import (with the module path), and by its own code."""

    def __init__(self):
        self.imports: dict[str, str] = {}
        self.bound: set[str] = set()
        self.assignments: list[tuple[str, ast.AST]] = []

    def visit_Import(self, node):
        for alias in node.names:
            if alias.asname:
                self.imports[alias.asname] = alias.name
            else:
                root = alias.name.split(".")[0]
                self.imports[root] = root

    def visit_ImportFrom(self, node):
        if node.level or not node.module:
            return
        for alias in node.names:
            if alias.name != "*":
                self.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def _target(self, target, value=None):
        if isinstance(target, ast.Name):
            self.bound.add(target.id)
            if value is not None:
                self.assignments.append((target.id, value))
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._target(element)
        elif isinstance(target, ast.Starred):
            self._target(target.value)

    def visit_Assign(self, node):
        for target in node.targets:
            self._target(target, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self._target(node.target, node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._target(node.target)
        self.generic_visit(node)

    def visit_NamedExpr(self, node):
        self._target(node.target, node.value)
        self.generic_visit(node)

    def visit_For(self, node):
        self._target(node.target)
        self.generic_visit(node)

    visit_AsyncFor = visit_For

    def visit_comprehension(self, node):
        self._target(node.target)
        self.generic_visit(node)

    def visit_withitem(self, node):
        if node.optional_vars is not None:
            self._target(node.optional_vars)
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        self.bound.add(node.name)
        arguments = node.args
        for argument in [
            *arguments.posonlyargs,
            *arguments.args,
            *arguments.kwonlyargs,
            *(a for a in (arguments.vararg, arguments.kwarg) if a),
        ]:
            self.bound.add(argument.arg)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        for argument in node.args.args:
            self.bound.add(argument.arg)
        self.generic_visit(node)

    def visit_ClassDef(self, node):
        self.bound.add(node.name)
        self.generic_visit(node)

    def visit_ExceptHandler(self, node):
        if node.name:
            self.bound.add(node.name)
        self.generic_visit(node)


class _Scan(ast.NodeVisitor):
    """Finds what a submission's cell does to the grader, the interpreter or the file system."""

    def __init__(
        self, imports: dict[str, str], aliases: dict[str, str], bound: set[str]
    ):
        import builtins

        self.imports, self.aliases, self.bound = imports, aliases, bound
        self.builtins = set(dir(builtins))
        self.found: list[str] = []
        self.allowed_grader: set[int] = set()
        self.allowed_names: set[int] = set()

    def flag(self, text: str) -> None:
        if text not in self.found:
            self.found.append(text)

    # -- what an expression names -------------------------------------------------------------
    def path(self, node: ast.AST, builtin: bool = True) -> str | None:
        """The dotted library path an expression names (``numpy.testing.assert_allclose``), if any.

        With ``builtin``, a builtin's name the submission did not bind counts (``builtins.print``).
        """
        if isinstance(node, ast.Name):
            if node.id in self.imports:
                return self.imports[node.id]
            if node.id in self.aliases:
                return self.aliases[node.id]
            if builtin and node.id in self.builtins and node.id not in self.bound:
                return f"builtins.{node.id}"
            if node.id in ("grader", "otter"):
                return node.id
            return None
        if isinstance(node, ast.Attribute):
            base = self.path(node.value, builtin)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Subscript):
            base = self.path(node.value, builtin)
            return f"{base}[]" if base else None
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "vars", "type")
            and node.args
        ):
            base = self.path(node.args[0], builtin)
            if base is None:
                return None
            if node.func.id == "getattr" and len(node.args) > 1:
                name = node.args[1]
                attribute = name.value if isinstance(name, ast.Constant) else "?"
                return f"{base}.{attribute}"
            return base
        return None

    def _library_target(self, target: ast.AST) -> str | None:
        """The library path an assignment target writes into, if it is not the submission's own."""
        node = target
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "vars", "type")
        ):
            return None
        path = self.path(target)
        if path is None:
            return None
        if any(path.startswith(allowed) for allowed in ALLOWED_LIBRARY_TARGETS):
            return None
        return path

    # -- statements ---------------------------------------------------------------------------
    def _assigned(self, targets, verb):
        for target in targets:
            if isinstance(target, (ast.Tuple, ast.List)):
                self._assigned(target.elts, verb)
            elif isinstance(target, ast.Starred):
                self._assigned([target.value], verb)
            elif isinstance(target, (ast.Attribute, ast.Subscript)):
                path = self._library_target(target)
                if path:
                    self.flag(f"{verb} {path}, which the submission did not define")
            elif isinstance(target, ast.Name) and target.id == "grader":
                self.flag("rebinds the name grader")

    def visit_Assign(self, node):
        self._assigned(node.targets, "assigns to")
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._assigned([node.target], "assigns to")
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self._assigned([node.target], "assigns to")
        self.generic_visit(node)

    def visit_Delete(self, node):
        self._assigned(node.targets, "deletes")
        self.generic_visit(node)

    def visit_Import(self, node):
        for alias in node.names:
            if _forbidden_path(alias.name):
                self.flag(f"imports {alias.name}")

    def visit_ImportFrom(self, node):
        module = node.module or ""
        if node.level == 0 and _forbidden_path(module):
            self.flag(f"imports from {module}")
            return
        for alias in node.names:
            if alias.name == "*":
                self.flag(
                    f"from {module} import * (may replace builtins the tests use)"
                )
            elif node.level == 0 and _forbidden_path(f"{module}.{alias.name}"):
                self.flag(f"imports {module}.{alias.name}")

    # -- expressions --------------------------------------------------------------------------
    def visit_Call(self, node):
        func = node.func
        magic = _magic(node)
        if magic is not None:
            self.allowed_names.add(id(func.value.func))
            self._scan_magic(*magic)
            for argument in node.args:
                self.visit(argument)
            return
        if _is_grader_call(node):
            self.allowed_grader.add(id(func.value))
        if isinstance(func, ast.Name) and func.id in ("setattr", "delattr"):
            self.allowed_names.add(id(func))
            target = node.args[0] if node.args else None
            root = target
            while isinstance(root, (ast.Attribute, ast.Subscript)):
                root = root.value
            own = (
                isinstance(root, ast.Name)
                and root.id in self.bound
                and root.id not in self.imports
                and root.id not in self.aliases
            )
            if not own:
                path = self.path(target) if target is not None else None
                self.flag(f"calls {func.id} on {path or 'an object it did not define'}")
        if isinstance(func, ast.Name) and func.id == "getattr" and len(node.args) > 1:
            name = node.args[1]
            if isinstance(name, ast.Constant) and name.value in FORBIDDEN_ATTRIBUTES:
                self.flag(f"reads the attribute {name.value}")
            elif not isinstance(name, (ast.Constant, ast.Name)):
                self.flag("getattr with a computed attribute name")
        self._writes(node)
        self.generic_visit(node)

    def _writes(self, node: ast.Call) -> None:
        func = node.func
        path = self.path(func)
        opens = path in ("builtins.open", "io.open", "codecs.open") or (
            isinstance(func, ast.Attribute) and func.attr == "open" and path is None
        )
        if opens:
            if isinstance(func, ast.Name):
                self.allowed_names.add(id(func))
            mode = None
            position = 1 if path in ("builtins.open", "io.open", "codecs.open") else 0
            if len(node.args) > position:
                mode = node.args[position]
            for keyword in node.keywords:
                if keyword.arg == "mode":
                    mode = keyword.value
            if mode is not None:
                if not isinstance(mode, ast.Constant) or not isinstance(
                    mode.value, str
                ):
                    self.flag("opens a file with a computed mode")
                elif set(mode.value) & set("wax+"):
                    self.flag(f'opens a file for writing (mode "{mode.value}")')
        if isinstance(func, ast.Attribute):
            if func.attr in WRITING_METHODS:
                self.flag(f"calls .{func.attr}() (writes or removes files)")
            if func.attr in ("rename", "replace") and (
                (path or "").startswith(("pathlib.", "os."))
                or (
                    isinstance(func.value, ast.Call)
                    and (self.path(func.value.func) or "").startswith("pathlib.")
                )
            ):
                self.flag(f"calls .{func.attr}() on a path (moves files)")

    def _scan_magic(self, method: str, arguments: list) -> None:
        values = [a.value if isinstance(a, ast.Constant) else None for a in arguments]
        if method in ("system", "getoutput"):
            self.flag("runs a shell command (!...)")
        elif method == "run_line_magic" and values:
            name = values[0]
            if name not in ALLOWED_MAGICS:
                self.flag(f"uses the magic %{name}")
            elif (
                name in ("time", "timeit")
                and len(values) > 1
                and isinstance(values[1], str)
            ):
                self._scan_text(values[1])
        elif method == "run_cell_magic" and values:
            name = values[0]
            if name not in ALLOWED_MAGICS:
                self.flag(f"uses the cell magic %%{name}")
            elif len(values) > 2 and isinstance(values[2], str):
                self._scan_text(values[2])
        else:
            self.flag(f"calls get_ipython().{method}")

    def _scan_text(self, source: str) -> None:
        try:
            tree = ast.parse(_python_of(source))
        except SyntaxError:
            return
        self.visit(tree)

    def visit_Name(self, node):
        name = node.id
        if id(node) in self.allowed_names:
            return
        if name == "grader":
            if id(node) not in self.allowed_grader and isinstance(node.ctx, ast.Load):
                self.flag("uses the grader object beyond grader.check")
            return
        if name in FORBIDDEN_NAMES or HISTORY_NAME.match(name):
            if isinstance(node.ctx, ast.Load) or name in ("__builtins__",):
                self.flag(f"uses {name}")
            return
        if name in ("setattr", "delattr", "open") and isinstance(node.ctx, ast.Load):
            self.flag(f"passes {name} around instead of calling it")
            return
        path = self.path(node, builtin=False)
        if path and _forbidden_path(path) and isinstance(node.ctx, ast.Load):
            self.flag(f"uses {path}")

    def visit_Attribute(self, node):
        if node.attr in FORBIDDEN_ATTRIBUTES:
            self.flag(f"uses the attribute {node.attr}")
        path = self.path(node, builtin=False)
        inner = self.path(node.value, builtin=False) or ""
        if path and _forbidden_path(path) and not _forbidden_path(inner):
            self.flag(f"uses {path}")
        self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str) and GRADER_STRINGS.search(node.value):
            self.flag(
                f"names the grader's files or otter in a string ({node.value[:40]!r})"
            )


class _TopLevel(_Names):
    """The names a cell binds in the notebook's namespace (not inside functions or classes)."""

    def visit_FunctionDef(self, node):
        self.bound.add(node.name)

    visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef

    def visit_Lambda(self, node):
        pass

    def visit_ListComp(self, node):
        pass

    visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp


def _top_level_bindings(tree: ast.Module) -> set[str]:
    """Names a cell binds at its top level (where they would hide a builtin from the tests)."""
    names = _TopLevel()
    names.visit(tree)
    return names.bound | set(names.imports)


def _parse_cells(notebook) -> list[tuple[int, ast.Module | None]]:
    parsed = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        try:
            parsed.append((index, ast.parse(_python_of(cell.source))))
        except (SyntaxError, ValueError):
            parsed.append((index, None))
    return parsed


def scan_notebook(notebook, allowed_cells: set[str] = frozenset()) -> list[str]:
    """What the code cells of ``notebook`` do that a submission should not, as short reasons.

    A cell whose source is one of ``allowed_cells`` (the cells of the student notebook as handed
    out: its install cell, init cell and given code) is not scanned, nor is otter's own init cell;
    everything else is: imports of and references to otter, the interpreter's internals
    (``sys.modules``, ``builtins``, ``importlib``, ``ctypes``, ``gc``, frames), ``exec``/``eval``/
    ``compile``, assignments into objects the submission did not define (``np.testing.x = ...``),
    ``setattr``/``delattr`` on them, builtins hidden by the submission's own names, file writes,
    shell commands and magics, and code beside ``grader.check`` in a check cell.
    """
    import builtins

    parsed = _parse_cells(notebook)
    names = _Names()
    for _, tree in parsed:
        if tree is not None:
            names.visit(tree)
    imports, bound = dict(names.imports), set(names.bound)
    aliases: dict[str, str] = {}
    scan = _Scan(imports, aliases, bound)
    for _ in range(3):  # aliases of aliases
        for name, value in names.assignments:
            path = scan.path(value)
            if path and not path.startswith("builtins."):
                aliases[name] = path
    reasons = []
    for index, tree in parsed:
        source = notebook.cells[index].source
        if source in allowed_cells or OTTER_INIT.match(source.strip()):
            continue
        if tree is None:
            continue
        scan.found = []
        scan.visit(tree)
        found = list(scan.found)
        checks = [n for n in ast.walk(tree) if _is_grader_call(n)]
        if checks and not all(
            isinstance(s, ast.Expr) and _is_grader_call(s.value) for s in tree.body
        ):
            found.append("has code beside grader.check in the same cell")
        hidden = sorted(
            name
            for name in _top_level_bindings(tree)
            if name in vars(builtins) and not name.startswith("__") and name != "_"
        )
        if hidden:
            found.append(f"binds the builtin name(s) {', '.join(hidden)}")
        reasons += [f"cell {index}: {text}" for text in found]
    return reasons
