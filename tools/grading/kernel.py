"""Grading, part 2: what the kernel looks like, observed from inside it.

The grader inserts a cell (:func:`guard_cell`) before and after each ``grader.check`` cell and around otter's
final grading cell. It records, into a file outside the grading folder, fingerprints of the functions the
tests rely on (otter's runner, ``doctest``, ``numpy.testing``, numpy, builtins, ``pickle``, Keras,
``mtl_tutorial``), the working folder, the tests' hashes, hidden builtins, trace functions and IPython hooks,
and otter's recorded results. :func:`reference_fingerprints` computes the same fingerprints in a fresh
interpreter, for :mod:`tools.grading.grade` to compare.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

#: Modules whose functions the tests rely on; the checks in the kernel fingerprint them (each
#: function's code, defaults and globals; each class's methods) and the grader compares the
#: fingerprints with those of a fresh interpreter. The first ones are imported by the check itself.
CRITICAL_MODULES = (
    "builtins",
    "doctest",
    "pickle",
    "io",
    "math",
    "numpy",
    "numpy.testing",
    "numpy.testing._private.utils",
    "numpy.linalg",
    "otter",
    "otter.check.notebook",
    "otter.check.utils",
    "otter.execute",
    "otter.execute.checker",
    "otter.nbmeta_config",
    "otter.test_files",
    "otter.test_files.abstract_test",
    "otter.test_files.ok_test",
    "otter.test_files.metadata_test",
    "otter.utils",
)
#: Fingerprinted too when the submission's kernel has imported them.
LIBRARY_MODULES = (
    "keras",
    "keras.ops",
    "keras.layers",
    "keras.losses",
    "keras.metrics",
    "keras.optimizers",
    "keras.random",
    "mtl_tutorial",
    "mtl_tutorial.*",
)
#: Classes under these packages have their methods fingerprinted (those of C types cannot change).
FINGERPRINT_ROOTS = ("otter", "numpy", "keras", "mtl_tutorial", "doctest", "pickle")
#: Names an IPython kernel binds over a builtin in the notebook's namespace: the object must come
#: from IPython (its module, or for ``open``, which copies ``io.open``'s name, its code's file).
KERNEL_BUILTINS = ("exit", "quit", "open", "get_ipython")
#: What an IPython kernel changes in ``builtins`` itself (ipykernel's ``input``; no ``exit``).
KERNEL_CHANGES = {
    "builtins.input",
    "builtins.exit",
    "builtins.quit",
    "builtins.get_ipython",
}
#: Module aliases that, when present in the submission's namespace, must be the real modules.
MODULE_ALIASES = {
    "np": "numpy",
    "keras": "keras",
    "ops": "keras",
    "mtl": "mtl_tutorial",
    "tf": "tensorflow",
    "pd": "pandas",
}
#: Callbacks and transformers IPython and the kernel install themselves.
KERNEL_HOOK_MODULES = ("IPython.", "ipykernel.", "matplotlib_inline.", "matplotlib.")


def _observe(
    namespace,
    modules,
    roots,
    optional=(),
    import_all=False,
    tests_dir=None,
    aliases=None,
):
    """Fingerprints of ``modules`` and, with a ``namespace``, what the kernel's state looks like.

    Runs inside the submission's kernel (its source is pasted into the checks the grader adds) and
    in a fresh interpreter for the reference. Self-contained: it imports what it uses.
    """
    import builtins
    import hashlib
    import importlib
    import os
    import sys
    import types

    def simple(value, depth):
        if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
            return repr(value)
        if isinstance(value, (tuple, list)):
            return "(" + ",".join(simple(v, depth) for v in value) + ")"
        if isinstance(value, (set, frozenset)):
            return "{" + ",".join(sorted(simple(v, depth) for v in value)) + "}"
        if isinstance(value, types.CodeType):
            return code(value)
        if depth > 0 and callable(value):
            return describe(value, depth - 1) or "?"
        kind = type(value)
        return "<" + kind.__module__ + "." + kind.__qualname__ + ">"

    def code(c):
        return (
            "C("
            + "|".join(
                [
                    c.co_code.hex(),
                    repr(c.co_names),
                    repr(c.co_varnames),
                    repr(c.co_freevars),
                    os.path.basename(c.co_filename),
                    str(c.co_firstlineno),
                    ",".join(simple(k, 0) for k in c.co_consts),
                ]
            )
            + ")"
        )

    def describe(obj, depth=2):
        kind = type(obj)
        if isinstance(obj, types.FunctionType):
            module = obj.__globals__.get("__name__")
            owner = sys.modules.get(module) if isinstance(module, str) else None
            same = (
                owner is not None
                and getattr(owner, "__dict__", None) is obj.__globals__
            )
            closure = ",".join(
                simple(getattr(c, "cell_contents", None), depth)
                for c in obj.__closure__ or ()
            )
            return (
                "F("
                + "|".join(
                    [
                        code(obj.__code__),
                        simple(obj.__defaults__, 0),
                        simple(sorted((obj.__kwdefaults__ or {}).items()), 0),
                        str(module),
                        str(same),
                        closure,
                    ]
                )
                + ")"
            )
        if isinstance(obj, types.MethodType):
            return "M(" + (describe(obj.__func__, depth) or "") + ")"
        if isinstance(obj, (types.BuiltinFunctionType, types.BuiltinMethodType)):
            owner = getattr(obj, "__self__", None)
            where = (
                owner.__name__
                if isinstance(owner, types.ModuleType)
                else type(owner).__name__
            )
            return "B(" + where + "." + getattr(obj, "__qualname__", obj.__name__) + ")"
        if isinstance(obj, type):
            heap = bool(obj.__flags__ & (1 << 9))
            return (
                "T("
                + str(obj.__module__)
                + "."
                + obj.__qualname__
                + "|"
                + str(heap)
                + ")"
            )
        if isinstance(obj, (classmethod, staticmethod)):
            return (
                "S(" + kind.__name__ + "|" + (describe(obj.__func__, depth) or "") + ")"
            )
        if isinstance(obj, property):
            parts = [
                describe(f, depth) or "" for f in (obj.fget, obj.fset, obj.fdel) if f
            ]
            return "P(" + "|".join(parts) + ")"
        if isinstance(obj, types.ModuleType):
            return None
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return "V(" + repr(obj) + ")"
        if not callable(obj) or depth <= 0:
            return None
        parts = [
            kind.__module__ + "." + kind.__qualname__,
            str(getattr(obj, "__name__", "")),
        ]
        for attribute in ("__wrapped__", "_implementation", "func", "_self_wrapper"):
            try:
                inner = object.__getattribute__(obj, attribute)
            except Exception:
                try:
                    inner = getattr(obj, attribute, None)
                except Exception:
                    inner = None
            if inner is not None and inner is not obj and callable(inner):
                parts.append(attribute + "=" + (describe(inner, depth - 1) or "?"))
        return "O(" + "|".join(parts) + ")"

    def digest(text):
        return hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()[:16]

    fingerprints, classes, loaded, errors = {}, {}, {}, []
    seen = set()

    def walk_class(cls):
        for klass in getattr(cls, "__mro__", ()):
            module = str(getattr(klass, "__module__", ""))
            if id(klass) in seen or not module.startswith(roots):
                continue
            if not klass.__flags__ & (1 << 9):
                continue
            seen.add(id(klass))
            key = module + ":" + klass.__qualname__
            entries = {}
            for name, value in list(vars(klass).items()):
                if isinstance(
                    value, (types.FunctionType, classmethod, staticmethod, property)
                ):
                    entries[name] = digest(describe(value) or "")
                elif callable(value) and not isinstance(value, type):
                    text = describe(value)
                    if text is not None:
                        entries[name] = digest(text)
            classes[key] = entries

    names = list(modules)
    for name in optional:
        if name.endswith(".*"):
            package = name[:-2]
            if import_all:
                import pkgutil

                path = getattr(importlib.import_module(package), "__path__", [])
                names += [m.name for m in pkgutil.walk_packages(path, package + ".")]
            else:
                names += sorted(m for m in sys.modules if m.startswith(package + "."))
        elif import_all or name in sys.modules:
            names.append(name)
    for name in names:
        try:
            module = importlib.import_module(name)
        except Exception as error:
            errors.append(name + ": " + type(error).__name__)
            continue
        loaded[name] = [
            type(module).__name__,
            os.path.basename(str(getattr(module, "__file__", ""))),
        ]
        for attribute, value in sorted(vars(module).items()):
            if attribute.startswith("__") and name != "builtins":
                continue
            try:
                text = describe(value)
            except Exception as error:
                text = "error " + type(error).__name__
            if text is not None:
                fingerprints[name + "." + attribute] = digest(text)
            if isinstance(value, type):
                try:
                    walk_class(value)
                except Exception as error:
                    errors.append(name + "." + attribute + ": " + type(error).__name__)
    observation = {
        "fingerprints": fingerprints,
        "classes": classes,
        "modules": loaded,
        "errors": errors,
    }
    if namespace is None:
        return observation

    real = vars(builtins)
    shadowed = []
    for name in real:
        value = namespace.get(name, real[name])
        if value is real[name] or name.startswith("__"):
            continue
        module = getattr(value, "__module__", None) or type(value).__module__
        function = getattr(value, "__func__", value)
        where = getattr(getattr(function, "__code__", None), "co_filename", "")
        shadowed.append([name, str(module), str(where)])
    observation["shadowed"] = sorted(shadowed)
    frame_builtins = namespace.get("__builtins__")
    observation["builtins_ok"] = frame_builtins is builtins or frame_builtins is real
    found = {}
    for alias, package in (aliases or {}).items():
        if alias in namespace:
            value = namespace[alias]
            name = getattr(value, "__name__", None)
            found[alias] = (
                isinstance(value, types.ModuleType)
                and isinstance(name, str)
                and name.split(".")[0] == package
                and sys.modules.get(name) is value
            )
    observation["aliases"] = found
    observation["cwd"] = os.getcwd()
    tests = {}
    if tests_dir and os.path.isdir(tests_dir):
        for file in sorted(os.listdir(tests_dir)):
            with open(os.path.join(tests_dir, file), "rb") as handle:
                tests[file] = hashlib.sha256(handle.read()).hexdigest()
    observation["tests"] = tests
    observation["trace"] = [sys.gettrace() is not None, sys.getprofile() is not None]
    hooks = []
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:
        found = []
        for callbacks in shell.events.callbacks.values():
            found += callbacks
        for attribute in (
            "input_transformers_cleanup",
            "input_transformers_post",
            "ast_transformers",
        ):
            found += list(getattr(shell, attribute, []))
        found += list(getattr(shell.input_transformer_manager, "line_transforms", []))
        for hook in found:
            target = getattr(hook, "__func__", hook)
            hooks.append(str(getattr(target, "__module__", type(target).__module__)))
    observation["hooks"] = hooks
    checker = sys.modules["otter.execute.checker"].Checker
    notebook = sys.modules["otter.check.notebook"].Notebook
    observation["otter"] = [
        bool(notebook._grading_mode),
        notebook._tests_dir_override,
        bool(checker._track_results),
    ]
    entries = []
    for test_file in list(checker._test_files):
        try:
            entries.append(
                [
                    id(test_file),
                    str(test_file.name),
                    str(test_file.path),
                    float(test_file.score),
                    float(test_file.possible),
                    type(test_file).__qualname__,
                ]
            )
        except Exception as error:
            entries.append(
                [id(test_file), "error " + type(error).__name__, "", 0.0, 0.0, ""]
            )
    observation["entries"] = entries
    return observation


def _observe_source() -> str:
    return textwrap.dedent(inspect.getsource(_observe))


def guard_cell(token: str, verdicts: Path) -> str:
    """A cell that records what the kernel looks like into ``verdicts/<token>.json``."""
    return "\n".join(
        [
            f"def _grader_check_{token}():",
            textwrap.indent(_observe_source(), "    "),
            "    import json",
            "",
            "    seen = _observe(",
            "        globals(),",
            f"        {list(CRITICAL_MODULES)!r},",
            f"        {FINGERPRINT_ROOTS!r},",
            f"        {list(LIBRARY_MODULES)!r},",
            "        tests_dir='./tests',",
            f"        aliases={MODULE_ALIASES!r},",
            "    )",
            f"    seen['token'] = {token!r}",
            f"    with open({str(verdicts / (token + '.json'))!r}, 'x') as handle:",
            "        json.dump(seen, handle)",
            "",
            "",
            f"_grader_check_{token}()",
            f"del _grader_check_{token}",
        ]
    )


_REFERENCE: dict = {}


def reference_fingerprints() -> dict:
    """The fingerprints of the tested modules in a fresh interpreter (cached for this process)."""
    if not _REFERENCE:
        script = "\n".join(
            [
                _observe_source(),
                "import json, sys",
                f"seen = _observe(None, {list(CRITICAL_MODULES)!r}, {FINGERPRINT_ROOTS!r},",
                f"                {list(LIBRARY_MODULES)!r}, import_all=True)",
                "json.dump(seen, sys.stdout)",
            ]
        )
        environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            cwd=tempfile.gettempdir(),
            env=environment,
            check=True,
        )
        _REFERENCE.update(json.loads(result.stdout))
    return _REFERENCE
