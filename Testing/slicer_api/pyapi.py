"""The API of a Python source file, read with :mod:`ast` (never imported), and call checks.

Used for Slicer's own Python (``slicer/util.py``, ``ScriptedLoadableModule.py``,
``parameterNodeWrapper``, ``SegmentStatisticsPluginBase.py``, ``SampleData.py``...).
A signature is stored as ``{"params": [[name, kind, has_default], ...], "varargs": bool,
"varkw": bool, "static": bool}`` with ``kind`` one of ``posonly``, ``pos``, ``kwonly``.
"""

from __future__ import annotations

import ast


def signature(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> dict:
    a = fn.args
    positional = [*a.posonlyargs, *a.args]
    n_default = len(a.defaults)
    params = [
        [p.arg, "posonly" if p in a.posonlyargs else "pos", i >= len(positional) - n_default]
        for i, p in enumerate(positional)
    ]
    params += [[p.arg, "kwonly", d is not None] for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    decorators = {d.id for d in fn.decorator_list if isinstance(d, ast.Name)}
    return {
        "params": params,
        "varargs": a.vararg is not None,
        "varkw": a.kwarg is not None,
        "static": "staticmethod" in decorators,
        "classmethod": "classmethod" in decorators,
    }


def _class_api(node: ast.ClassDef) -> dict:
    methods, attributes = {}, set()
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            methods[item.name] = signature(item)
        elif isinstance(item, (ast.Assign, ast.AnnAssign)):
            targets = item.targets if isinstance(item, ast.Assign) else [item.target]
            attributes |= {t.id for t in targets if isinstance(t, ast.Name)}
    for sub in ast.walk(node):
        stored = isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Store)
        if stored and isinstance(sub.value, ast.Name) and sub.value.id == "self":
            attributes.add(sub.attr)
    return {
        "bases": [ast.unparse(b).split(".")[-1] for b in node.bases],
        "methods": methods,
        "attributes": sorted(attributes - set(methods)),
    }


def module_api(source: str) -> dict:
    """``{"functions": {name: signature}, "classes": {name: api}, "names": [...], "star": [...]}``.

    ``names`` are the other public top-level names (assignments, imports); ``star`` the
    modules re-exported with ``from .x import *``; ``all`` the ``__all__`` list when given.
    """
    tree = ast.parse(source)
    out = {"functions": {}, "classes": {}, "names": [], "star": [], "all": None}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out["functions"][node.name] = signature(node)
        elif isinstance(node, ast.ClassDef):
            out["classes"][node.name] = _class_api(node)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name) and t.id == "__all__":
                    out["all"] = [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
                elif isinstance(t, ast.Name):
                    out["names"].append(t.id)
        elif isinstance(node, ast.ImportFrom):
            if any(a.name == "*" for a in node.names):
                out["star"].append("." * node.level + (node.module or ""))
            else:
                out["names"] += [a.asname or a.name for a in node.names]
        elif isinstance(node, ast.Import):
            out["names"] += [(a.asname or a.name).split(".")[0] for a in node.names]
    return out


def public_names(api: dict) -> set[str]:
    """What ``from module import *`` gives: ``__all__``, else the names not starting with ``_``."""
    if api.get("all") is not None:
        return set(api["all"])
    names = {*api["functions"], *api["classes"], *api["names"]}
    return {n for n in names if not n.startswith("_")}


def bind(sig: dict, n_positional: int, keywords: list[str], *, bound: bool, star: bool = False) -> str | None:
    """Why a call with these arguments fails against ``sig`` (None when it binds).

    ``bound``: called on an instance or class attribute, so ``self`` (or ``cls``) is given
    unless the function is a ``staticmethod``. ``star``: the call passes ``*args`` or
    ``**kwargs``, so only unknown keywords can be judged.
    """
    params = list(sig["params"])
    if bound and not sig["static"] and params:
        params = params[1:]
    positional = [p for p in params if p[1] in ("posonly", "pos")]
    names = {p[0] for p in params if p[1] != "posonly"}
    unknown = [k for k in keywords if k not in names]
    if unknown and not sig["varkw"]:
        return f"unexpected keyword argument(s) {unknown}"
    if star:
        return None
    if n_positional > len(positional) and not sig["varargs"]:
        return f"{n_positional} positional arguments, at most {len(positional)} accepted"
    filled = {p[0] for p in positional[:n_positional]} | set(keywords)
    clash = sorted({p[0] for p in positional[:n_positional]} & set(keywords))
    if clash:
        return f"argument(s) {clash} given twice"
    missing = [p[0] for p in params if not p[2] and p[0] not in filled]
    if missing:
        return f"missing required argument(s) {missing}"
    return None
