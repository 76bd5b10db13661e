"""The type stubs of the compiled modules (``_core.pyi``, ``_core_cuda.pyi``) stay in step with the bindings.

``_core`` is compared with the built module itself: pybind11 puts each function's signature
(``name(arg: type = default, ...) -> ret``, one line per overload) at the top of its docstring.
``_core_cuda`` is optional and usually not built, so its stub is compared with its C++ source
(``cpp/bindings/cuda_module.cpp``, found next to this test folder), and with the module too when
it is built. The stubs are read from the installed package, so a wheel that lacks them fails here.
"""

import ast
import importlib
import importlib.resources
import inspect
import re
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Union

import pytest

from ledkde_fast import _core  # no importorskip: a broken build must fail, not skip

BINDINGS = Path(__file__).resolve().parents[1] / "cpp" / "bindings"
STUBBED_MODULES = ("_core", "_core_cuda")
NO_DEFAULT = object()  # a parameter without a default
UNKNOWN = object()  # a default that is not a simple literal: presence is compared, not the value

_DTYPE_RUNTIME = re.compile(r"\bnumpy\.(bool_?|u?int\d+|float\d+|complex\d+)\b")
_DTYPE_STUB = re.compile(r"\b(?:np|numpy)\.(bool_?|u?int\d+|float\d+|complex\d+)\b")


class Param(NamedTuple):
    name: str
    default: Any  # NO_DEFAULT, UNKNOWN or the literal value
    annotation: str  # as written (runtime docstring, stub source or C++ type)


class Sig(NamedTuple):
    params: Tuple[Param, ...]
    returns: str


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return UNKNOWN


def _same_default(a: Any, b: Any) -> bool:
    if a is NO_DEFAULT or b is NO_DEFAULT:
        return a is b
    if a is UNKNOWN or b is UNKNOWN:
        return True  # both have one; the value cannot be compared
    return type(a) is type(b) and a == b


def _describe(sig: Sig) -> str:
    def one(p: Param) -> str:
        if p.default is NO_DEFAULT:
            return p.name
        return f"{p.name}={'<default>' if p.default is UNKNOWN else repr(p.default)}"

    return "(" + ", ".join(one(p) for p in sig.params) + ")"


def _split_top(text: str, sep: str = ",") -> List[str]:
    """Split at ``sep`` outside brackets, parentheses, braces, angle brackets and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{<":
            depth += 1
        elif ch in ")]}>" and not (ch == ">" and text[i - 1] == "-"):
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _closing(text: str, open_at: int) -> int:
    """Index of the parenthesis closing the one at ``open_at`` (quotes skipped)."""
    depth, quote = 0, ""
    for i in range(open_at, len(text)):
        ch = text[i]
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unbalanced parentheses in {text!r}")


# --- the stubs ---------------------------------------------------------------------------------


class Stub(NamedTuple):
    functions: Dict[str, List[Sig]]  # overloads in the order written
    attributes: Dict[str, str]  # name -> annotation
    classes: List[str]


def _stub_source(module: str) -> str:
    resource = importlib.resources.files("ledkde_fast") / f"{module}.pyi"
    assert resource.is_file(), f"{module}.pyi is not installed with ledkde_fast (is it in the wheel?)"
    return resource.read_text(encoding="utf-8")


def _stub_sig(fn: Union[ast.FunctionDef, ast.AsyncFunctionDef]) -> Sig:
    a = fn.args
    positional = a.posonlyargs + a.args
    defaults: List[Optional[ast.expr]] = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    params = []

    def param(arg: ast.arg, default: Optional[ast.expr], prefix: str = "") -> Param:
        if default is None:
            value: Any = NO_DEFAULT
        else:
            value = _literal(ast.unparse(default))
        annotation = ast.unparse(arg.annotation) if arg.annotation is not None else ""
        return Param(prefix + arg.arg, value, annotation)

    for i, (arg, default) in enumerate(zip(positional, defaults)):
        params.append(param(arg, default))
        if a.posonlyargs and i == len(a.posonlyargs) - 1:
            params.append(Param("/", NO_DEFAULT, ""))
    if a.vararg is not None:
        params.append(param(a.vararg, None, "*"))
    elif a.kwonlyargs:
        params.append(Param("*", NO_DEFAULT, ""))
    params.extend(param(arg, default) for arg, default in zip(a.kwonlyargs, a.kw_defaults))
    if a.kwarg is not None:
        params.append(param(a.kwarg, None, "**"))
    returns = ast.unparse(fn.returns) if fn.returns is not None else ""
    return Sig(tuple(params), returns)


def parse_stub(module: str) -> Stub:
    tree = ast.parse(_stub_source(module))
    functions: Dict[str, List[Sig]] = {}
    attributes: Dict[str, str] = {}
    classes = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions.setdefault(node.name, []).append(_stub_sig(node))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            attributes[node.target.id] = ast.unparse(node.annotation)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    attributes[target.id] = ""
        elif isinstance(node, ast.ClassDef):
            classes.append(node.name)
    return Stub(functions, attributes, classes)


# --- the built module (pybind11 docstrings) --------------------------------------------------------


def _runtime_param(text: str) -> Param:
    if text in ("*", "/") or text.startswith("*"):
        return Param(text.split(":")[0].strip(), NO_DEFAULT, "")
    head, _, default = text.partition(" = ")
    name, _, annotation = head.partition(":")
    return Param(name.strip(), _literal(default) if default else NO_DEFAULT, annotation.strip())


def _parse_signature(name: str, line: str) -> Sig:
    assert line.startswith(name + "("), f"not a signature of {name}: {line!r}"
    close = _closing(line, len(name))
    rest = line[close + 1 :].strip()
    assert rest.startswith("->"), f"no return type in the signature {line!r}"
    params = tuple(_runtime_param(p) for p in _split_top(line[len(name) + 1 : close]))
    return Sig(params, rest[2:].strip())


def runtime_signatures(func: Any) -> List[Sig]:
    name = func.__name__
    lines = (func.__doc__ or "").splitlines()
    assert lines, f"{name} has no docstring: not a pybind11 function?"
    if len(lines) > 1 and lines[1].strip() == "Overloaded function.":
        overloads = [re.sub(r"^\d+\.\s+", "", ln) for ln in lines if re.match(rf"^\d+\.\s+{name}\(", ln)]
        assert overloads, f"no overload signatures in the docstring of {name}"
        return [_parse_signature(name, ln) for ln in overloads]
    return [_parse_signature(name, lines[0])]


def runtime_names(module: Any) -> Tuple[Dict[str, Any], Dict[str, Any], List[str]]:
    """Public functions, attributes and classes of a compiled module."""
    functions, attributes, classes = {}, {}, []
    for name, value in vars(module).items():
        if name.startswith("_") or inspect.ismodule(value):
            continue
        if inspect.isclass(value):
            classes.append(name)
        elif callable(value):
            functions[name] = value
        else:
            attributes[name] = value
    return functions, attributes, classes


# --- the C++ source ---------------------------------------------------------------------------------


def _strip_comments(src: str) -> str:
    out, i, quote = [], 0, ""
    while i < len(src):
        ch = src[i]
        if quote:
            out.append(ch)
            if ch == "\\":
                out.append(src[i + 1])
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif src.startswith("//", i):
            i = src.find("\n", i)
            i = len(src) if i < 0 else i
            continue
        elif src.startswith("/*", i):
            i = src.index("*/", i) + 2
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


_ARG = re.compile(r"\b(?:py|pybind11)::arg\(\s*\"(\w+)\"\s*\)(?:\s*\.\s*\w+\(\s*\))*(?:\s*=\s*([^,]+))?")


def _cpp_literal(text: str) -> Any:
    """A default as written after ``py::arg("...") =`` (up to the next comma), as a Python value."""
    text = text.strip()
    while text.endswith(")") and text.count(")") > text.count("("):
        text = text[:-1].strip()  # the closing parenthesis of m.def(...)
    known = {"true": True, "false": False, "py::none()": None, "pybind11::none()": None, "nullptr": None}
    if text in known:
        return known[text]
    return _literal(re.sub(r"(?<=\d)[fFlLuU]+$", "", text))


def source_signatures(path: Path) -> Dict[str, List[Sig]]:
    """``m.def("name", ...)`` calls of a bindings file: parameter names from ``py::arg``, defaults as
    written, and, for a lambda, each parameter's C++ type as the annotation. A function defined in
    a template that is instantiated several times appears once."""
    src = _strip_comments(path.read_text(encoding="utf-8"))
    out: Dict[str, List[Sig]] = {}
    for match in re.finditer(r"\bm\.def\(", src):
        call = src[match.end() - 1 : _closing(src, match.end() - 1) + 1]
        name = re.match(r"\(\s*\"(\w+)\"", call)
        assert name, f"m.def without a literal name in {path}: {call[:80]!r}"
        args = [(m.group(1), m.group(2)) for m in _ARG.finditer(call)]
        cpp_types: List[str] = []
        lam = re.search(r"\[[^\]]*\]\s*\(", call)
        if lam:
            lam_params = _split_top(call[lam.end() : _closing(call, lam.end() - 1)])
            cpp_types = [re.sub(r"\s*\b\w+$", "", p) for p in lam_params]
            assert len(cpp_types) == len(args), f"{name.group(1)}: {len(cpp_types)} lambda parameters, {len(args)} args"
            lam_names = [re.split(r"\W+", p)[-1] for p in lam_params]
            arg_names = [a for a, _ in args]
            assert lam_names == arg_names, f"{name.group(1)}: lambda parameters {lam_names}, py::arg {arg_names}"
        params = tuple(
            Param(a, NO_DEFAULT if d is None else _cpp_literal(d), cpp_types[i] if cpp_types else "")
            for i, (a, d) in enumerate(args)
        )
        sig = Sig(params, "")
        if sig not in out.setdefault(name.group(1), []):
            out[name.group(1)].append(sig)
    return out


def _bindings_file(name: str) -> Path:
    path = BINDINGS / name
    if not path.is_file():
        pytest.skip(f"C++ sources not next to the tests ({path} missing)")
    return path


# --- comparisons --------------------------------------------------------------------------------------


def _compare_params(where: str, stub: Sig, other: Sig) -> List[str]:
    problems = []
    stub_names = [p.name for p in stub.params]
    other_names = [p.name for p in other.params]
    if stub_names != other_names:
        return [f"{where}: parameters {stub_names} in the stub, {other_names} in the bindings"]
    for s, o in zip(stub.params, other.params):
        if (s.default is NO_DEFAULT) != (o.default is NO_DEFAULT):
            has = "has" if s.default is not NO_DEFAULT else "has no"
            problems.append(f"{where}: {s.name} {has} a default in the stub, unlike the bindings")
        elif not _same_default(s.default, o.default):
            problems.append(f"{where}: {s.name} defaults to {s.default!r} in the stub, {o.default!r} in the bindings")
    return problems


def _dtypes_runtime(text: str) -> List[str]:
    return [d.rstrip("_") for d in _DTYPE_RUNTIME.findall(text)]


def _dtypes_stub(text: str) -> List[str]:
    return [d.rstrip("_") for d in _DTYPE_STUB.findall(text)]


def compare_with_runtime(name: str, stub: List[Sig], runtime: List[Sig]) -> List[str]:
    if len(stub) != len(runtime):
        return [
            (
                f"{name}: {len(stub)} signature(s) in the stub, {len(runtime)} overload(s) in the module: "
                f"stub {[_describe(s) for s in stub]}, module {[_describe(s) for s in runtime]}"
            )
        ]
    problems = []
    for k, (s, r) in enumerate(zip(stub, runtime), start=1):
        where = f"{name} (overload {k})" if len(stub) > 1 else name
        found = _compare_params(where, s, r)
        problems += found
        if found:
            continue
        # Array dtypes, where the binding states them (py::array_t<T>), in overload order.
        for sp, rp in zip(s.params, r.params):
            want = _dtypes_runtime(rp.annotation)
            if want and _dtypes_stub(sp.annotation) != want:
                problems.append(f"{where}: {sp.name} is {sp.annotation!r} in the stub, {rp.annotation!r} in the module")
        want = _dtypes_runtime(r.returns)
        if want and _dtypes_stub(s.returns) != want:
            problems.append(f"{where}: returns {s.returns!r} in the stub, {r.returns!r} in the module")
        if r.returns == "None" and s.returns != "None":
            problems.append(f"{where}: returns {s.returns!r} in the stub, None in the module")
    return problems


def _optional_problems(name: str, stub: List[Sig], source: List[Sig]) -> List[str]:
    """A ``py::object`` parameter (the bindings' way of accepting None) is ``Optional`` in the stub,
    and only those are."""
    problems = []
    for src in source:
        if not any(p.annotation for p in src.params):
            continue  # a function pointer: no C++ types to read
        for s in stub:
            for sp, cp in zip(s.params, src.params):
                takes_none = cp.annotation.replace("pybind11::", "py::") == "py::object"
                optional = sp.annotation.startswith(("Optional[", "typing.Optional[")) or "None" in _split_top(
                    sp.annotation, "|"
                )
                if takes_none != optional:
                    problems.append(
                        f"{name}: {sp.name} is {sp.annotation!r} in the stub but {cp.annotation!r} in the C++ "
                        f"({'accepts' if takes_none else 'does not accept'} None)"
                    )
    return sorted(set(problems))


CORE_STUB = parse_stub("_core")
CORE_FUNCTIONS, CORE_ATTRIBUTES, CORE_CLASSES = runtime_names(_core)


def test_marker_and_stubs_installed():
    package = importlib.resources.files("ledkde_fast")
    for name in ("py.typed", *(f"{m}.pyi" for m in STUBBED_MODULES)):
        assert (package / name).is_file(), f"{name} is not installed with ledkde_fast"


@pytest.mark.parametrize("module", STUBBED_MODULES)
def test_stub_syntax_is_python39(module):
    ast.parse(_stub_source(module), feature_version=(3, 9))


def test_core_stub_names_match_module():
    stub_only = sorted(set(CORE_STUB.functions) - set(CORE_FUNCTIONS))
    module_only = sorted(set(CORE_FUNCTIONS) - set(CORE_STUB.functions))
    assert not stub_only, f"functions in _core.pyi that _core lacks: {stub_only}"
    assert not module_only, f"functions of _core missing from _core.pyi: {module_only}"
    assert sorted(CORE_STUB.classes) == sorted(CORE_CLASSES)


def test_core_stub_attributes_match_module():
    assert sorted(CORE_STUB.attributes) == sorted(CORE_ATTRIBUTES), "module attributes differ"
    assert "compiler" in CORE_ATTRIBUTES
    for name, annotation in CORE_STUB.attributes.items():
        builtin = {"str": str, "int": int, "float": float, "bool": bool}.get(annotation)
        if builtin is not None:
            value = CORE_ATTRIBUTES[name]
            assert type(value) is builtin, f"_core.{name} is {type(value).__name__}, stub says {annotation}"


@pytest.mark.parametrize("name", sorted(CORE_FUNCTIONS))
def test_core_stub_signature_matches_module(name):
    if name not in CORE_STUB.functions:
        pytest.fail(f"_core.{name} is missing from _core.pyi")
    problems = compare_with_runtime(name, CORE_STUB.functions[name], runtime_signatures(CORE_FUNCTIONS[name]))
    assert not problems, "\n".join(problems)


def test_core_stub_optional_where_bindings_accept_none():
    problems = []
    for path in sorted(_bindings_file("module.cpp").parent.glob("register_*.cpp")):
        for name, sigs in source_signatures(path).items():
            problems += _optional_problems(name, CORE_STUB.functions.get(name, []), sigs)
    assert not problems, "\n".join(problems)


def test_cuda_stub_matches_source():
    source = source_signatures(_bindings_file("cuda_module.cpp"))
    stub = parse_stub("_core_cuda")
    assert sorted(stub.functions) == sorted(source), "functions of _core_cuda.pyi and cuda_module.cpp differ"
    assert not stub.attributes and not stub.classes, "cuda_module.cpp defines no attributes or classes"
    problems = []
    for name, src_sigs in source.items():
        # The source shows each m.def once, however many times its template is instantiated; every
        # stub overload must match one of them, and every one of them must be in the stub.
        seen = set()
        for k, s in enumerate(stub.functions[name], start=1):
            errors = [_compare_params(f"{name} (stub signature {k})", s, src) for src in src_sigs]
            matching = [i for i, e in enumerate(errors) if not e]
            if matching:
                seen.update(matching)
            else:
                problems += min(errors, key=len)
        missing = [_describe(src_sigs[i]) for i in range(len(src_sigs)) if i not in seen]
        if missing:
            problems.append(f"{name}: signatures {missing} of cuda_module.cpp are not in the stub")
        problems += _optional_problems(name, stub.functions[name], src_sigs)
    assert not problems, "\n".join(problems)


def test_cuda_stub_matches_module_when_built():
    try:
        module = importlib.import_module("ledkde_fast._core_cuda")
    except ImportError:
        pytest.skip("ledkde_fast._core_cuda is not built (optional CUDA module)")
    stub = parse_stub("_core_cuda")
    functions, attributes, _ = runtime_names(module)
    assert sorted(stub.functions) == sorted(functions)
    assert sorted(stub.attributes) == sorted(attributes)
    problems = []
    for name, func in functions.items():
        problems += compare_with_runtime(name, stub.functions[name], runtime_signatures(func))
    assert not problems, "\n".join(problems)
