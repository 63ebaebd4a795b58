"""Read the Python-visible API of a C++ class from its header (Qt, CTK, Slicer, MRML).

A small, deliberate parser for the headers of Slicer, CTK and Qt, not a C++ front end.
For each ``class`` it returns the base classes, and, per access section:

* ``properties``: ``Q_PROPERTY(type name READ getter WRITE setter ...)`` (name -> writable);
* ``signals`` and ``slots``: normalized signatures as Qt's moc writes them (``clicked(bool)``,
  ``setText(QString)``; one per trailing default argument, so ``clicked()`` is there too;
  ``QPrivateSignal`` dropped), which is what PythonQt's ``connect("signal(args)")`` matches;
* ``invokables``: ``Q_INVOKABLE`` methods (callable from Python on Slicer's and CTK's classes);
* ``methods``: every other public method, including the accessors that VTK's macros
  (``vtkGetMacro``, ``vtkSetMacro``, ``vtkBooleanMacro``, ...) declare; VTK wraps them all,
  PythonQt wraps them for Qt's own classes;
* ``enums``: public enum members (VTK exposes them as class attributes), and ``q_enums``:
  the enums registered with ``Q_ENUMS``/``Q_ENUM`` (what PythonQt exposes on Slicer's classes);
* ``returns``: method name -> the class it returns a pointer to (to follow call chains).
"""

from __future__ import annotations

import re

_LABEL = re.compile(r"^(public|protected|private)?\s*(slots|Q_SLOTS|signals|Q_SIGNALS)?\s*$")
_MACRO = re.compile(r"([A-Z][A-Z0-9_]{2,}|vtk\w*Macro\w*)\s*(?=\()")
_KEEP_MACROS = {"Q_INVOKABLE"}  # marks the declaration that follows
_CLASS = re.compile(r"\b(class|struct)\s+((?:\w+_EXPORT\s+|VTK_\w+\s+)*)(\w+)\s*(final\s*)?(:[^{;]*)?\{")
_TYPE_WORDS = {
    "int",
    "long",
    "short",
    "char",
    "double",
    "float",
    "bool",
    "unsigned",
    "signed",
    "void",
    "size_t",
}
_NOT_METHODS = {"operator", "if", "while", "for", "switch", "return", "sizeof", "decltype", "static_assert"}


def _strip(text: str) -> str:
    """Drop comments, preprocessor lines and string contents (keeping both sides of ``#if``)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"\\\n", " ", text)
    text = re.sub(r"^\s*#[^\n]*", "", text, flags=re.M)
    text = re.sub(r"'(?:\\.|[^'\\])'", "' '", text)
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)


def _match(text: str, i: int, open_: str, close: str) -> int:
    """Index after the bracket closing the one at ``text[i]``."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] == open_:
            depth += 1
        elif text[j] == close:
            depth -= 1
            if depth == 0:
                return j + 1
    return len(text)


def _split_top(text: str, sep: str = ",") -> list[str]:
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "(<[{":
            depth += 1
        elif ch in ")>]}":
            depth -= 1
        elif ch == sep and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return [s.strip() for s in out if s.strip()]


def _param_type(param: str) -> tuple[str, bool]:
    """(normalized type, has default) of one parameter declaration."""
    default = "=" in _split_top(param, "=")[0] or len(_split_top(param, "=")) > 1
    decl = _split_top(param, "=")[0].strip()
    decl = re.sub(r"\b(Q_NULLPTR|nullptr)\b", "", decl).strip()
    m = re.match(r"^(.*?[\w>*&\s])\s*\b([A-Za-z_]\w*)\s*(\[\d*\])?$", decl)
    if m and m.group(2) not in _TYPE_WORDS and re.search(r"[\w>*&]", m.group(1)):
        decl = m.group(1)
    decl = re.sub(r"\s+", " ", decl).strip()
    if decl.startswith("const ") and decl.endswith("&"):
        decl = decl[6:-1]
    decl = re.sub(r"\s*([*&<>,])\s*", r"\1", decl).rstrip("&")
    return decl.strip(), default


def _signatures(name: str, params: str) -> list[str]:
    """Qt-normalized signatures, one per number of trailing defaults used."""
    parsed = [_param_type(p) for p in _split_top(params)]
    parsed = [p for p in parsed if p[0] not in ("void", "QPrivateSignal", "")]
    sigs = [f"{name}({','.join(t for t, _ in parsed)})"]
    while parsed and parsed[-1][1]:
        parsed.pop()
        sigs.append(f"{name}({','.join(t for t, _ in parsed)})")
    return sigs


def _vtk_macro(name: str, args: list[str]) -> list[str]:
    """Methods declared by a VTK accessor macro (``vtkGetMacro(Name, type)`` -> ``GetName``)."""
    if not args:
        return []
    member = args[0]
    if name == "vtkBooleanMacro":
        return [f"{member}On", f"{member}Off"]
    m = re.match(r"vtk(Get|Set)\w*Macro$", name)
    if not m:
        return []
    out = [f"{m.group(1)}{member}"]
    if name == "vtkSetClampMacro":
        out += [f"Get{member}MinValue", f"Get{member}MaxValue"]
    return out


def _empty(name: str, bases: list[str]) -> dict:
    return {
        "name": name,
        "bases": bases,
        "properties": {},
        "signals": [],
        "slots": [],
        "invokables": [],
        "methods": [],
        "enums": {},
        "q_enums": [],
        "returns": {},
    }


def _add_macro(cls: dict, macro: str, args: str, public: bool) -> None:
    if macro == "Q_PROPERTY":
        words = args.split()
        rest = [w for w in words if w.isupper()]
        idx = next((i for i, w in enumerate(words) if w.isupper() and i > 0), len(words))
        if idx >= 1:
            cls["properties"][words[idx - 1].lstrip("*&")] = "WRITE" in rest
    elif macro in ("Q_ENUMS", "Q_ENUM", "Q_FLAGS", "Q_FLAG"):
        cls["q_enums"] += [a.strip() for a in re.split(r"[\s,]+", args) if a.strip()]
    elif macro == "vtkTypeMacro" and not cls["bases"]:
        parts = [a.strip() for a in args.split(",")]
        cls["bases"] = parts[1:2]
    elif public:
        cls["methods"] += _vtk_macro(macro, [a.strip() for a in args.split(",")])


def _add_statement(cls: dict, stmt: str, section: str) -> None:
    stmt = re.sub(r"\s+", " ", stmt).strip()
    if not stmt or stmt.startswith(("typedef", "using", "friend", "template", "~")):
        return
    m = re.search(r"(~?\b[A-Za-z_]\w*)\s*\(", stmt)
    if not m or m.group(1) in _NOT_METHODS or m.group(1) == cls["name"] or "operator" in stmt[: m.start()]:
        return
    name = m.group(1)
    params = stmt[m.end() - 1 : _match(stmt, m.end() - 1, "(", ")")][1:-1]
    if section == "signals":
        cls["signals"] += _signatures(name, params)
    elif section == "slots":
        cls["slots"] += _signatures(name, params)
    elif "Q_INVOKABLE" in stmt[: m.start()]:
        cls["invokables"].append(name)
    else:
        cls["methods"].append(name)
    ret = re.search(r"\b([A-Za-z_]\w*)\s*\*\s*$", stmt[: m.start()])
    if ret:
        cls["returns"].setdefault(name, ret.group(1))


def _parse_body(cls: dict, body: str, default_access: str) -> None:
    access, kind = default_access, "members"
    i, stmt_start = 0, 0
    while i < len(body):
        ch = body[i]
        if not body[stmt_start:i].strip():
            m = _MACRO.match(body, i)
            if m:
                end = _match(body, m.end(), "(", ")")
                _add_macro(cls, m.group(1), body[m.end() + 1 : end - 1], access == "public")
                i = stmt_start = end
                continue
            word = re.match(r"[A-Z][A-Z0-9_]{2,}\b(?!\s*:[^:])", body[i:])
            if word and word.group(0) not in _KEEP_MACROS:
                i = stmt_start = i + word.end()
                continue
        if ch == ":" and body[i : i + 2] != "::" and body[i - 1] != ":":
            label = _LABEL.match(body[stmt_start:i].strip())
            if label and (label.group(1) or label.group(2)):
                access = label.group(1) or (
                    "protected" if label.group(2) in ("signals", "Q_SIGNALS") else access
                )
                kind = {
                    "slots": "slots",
                    "Q_SLOTS": "slots",
                    "signals": "signals",
                    "Q_SIGNALS": "signals",
                }.get(label.group(2) or "", "members")
                if kind == "signals":
                    access = "public"
                i = stmt_start = i + 1
                continue
        if ch == "{":
            end = _match(body, i, "{", "}")
            head = body[stmt_start:i]
            enum = re.search(r"\benum\b(?:\s+class)?\s*(\w*)", head)
            if enum and access == "public":
                members = [re.split(r"[\s=]", e.strip())[0] for e in _split_top(body[i + 1 : end - 1])]
                cls["enums"].setdefault(enum.group(1), []).extend(m for m in members if m)
            elif "(" in head and access == "public":
                _add_statement(cls, head, kind)
            i = end
            if re.match(r"\s*;", body[i:]) or enum or re.search(r"\b(class|struct|union)\b", head):
                i = body.index(";", i) + 1 if ";" in body[i:] else len(body)
            stmt_start = i
            continue
        if ch == ";":
            if access == "public" or kind == "signals":
                _add_statement(cls, body[stmt_start:i], kind)
            stmt_start = i + 1
        i += 1


def parse_header(text: str) -> dict[str, dict]:
    """Class name -> API (see the module docstring) of every class defined in ``text``."""
    text = _strip(text)
    out = {}
    pos = 0
    while True:
        m = _CLASS.search(text, pos)
        if not m:
            return out
        start = m.end() - 1
        end = _match(text, start, "{", "}")
        bases = []
        for b in _split_top((m.group(5) or ":")[1:]):
            b = re.sub(r"\b(public|protected|private|virtual)\b", "", b).strip()
            b = re.sub(r"<.*>", "", b).strip()
            if b:
                bases.append(b.split("::")[-1])
        cls = _empty(m.group(3), bases)
        _parse_body(cls, text[start + 1 : end - 1], "public" if m.group(1) == "struct" else "private")
        for key in ("signals", "slots", "invokables", "methods", "q_enums"):
            cls[key] = sorted(set(cls[key]))
        out.setdefault(m.group(3), cls)
        pos = start + 1
