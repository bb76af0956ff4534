"""The one restricted environment in which diagram code runs.

Everything a diagram carries as code — script tasks, gateway conditions, timer expressions, `department`
expressions, multi-instance and completion expressions, pre/post scripts — is compiled with RestrictedPython and run
with a small set of builtins, guarded attribute/item access and no imports. A process administrator can route,
compute and call the documented functions; nothing else in the server is reachable.

What the guards do:
- compile time (`DiagramPolicy`): RestrictedPython's rules (no `_`-prefixed names or attributes, no frame/code
  attributes) plus: no import, no class, no f-string width from an expression; `+ * ** << %` become calls to guards
  that refuse results beyond the size limits below;
- run time: `_getattr_` refuses `_`-prefixed and inspection attributes and `str.format`; the string and list methods
  that can multiply memory in one C call (ljust, join, replace, extend, ...) check their result size first;
  `range` is bounded;
- a budget stops a run after `time_limit` seconds or when the process grew by `memory_limit` bytes. The compiled
  code checks it at every loop iteration (`_getiter_` and the start of each `while` body), at every function or
  lambda call and at the start of every `except`/`finally` block; once spent it stays spent, so a script that
  catches the stop is stopped again at once. (Checks compiled into the code, not `sys.settrace`: a trace function
  that raises is switched off by Python, and a script could then catch the stop and loop on.)
A stopped or failing run raises `ScriptError`, which SpiffWorkflow turns into a task error and our runtime into an
`EngineError` (the instance goes to the error state with the element and the reason).
"""
from __future__ import annotations

import ast
import builtins
import datetime
import functools
import re
import threading
import time
import types
from collections.abc import Callable, Iterable
from typing import Any

from RestrictedPython import RestrictingNodeTransformer, compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr_raise,
)
from RestrictedPython.PrintCollector import PrintCollector
from RestrictedPython.transformer import INSPECT_ATTRIBUTES
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

FILENAME = "<diagram>"
MAX_ITEMS = 100_000  # elements of a list/tuple/range a script may build in one operation
MAX_CHARS = 1_000_000  # characters of a string (or bytes)
MAX_INT_BITS = 100_000  # size of an integer result
TIME_LIMIT = 2.0  # seconds per evaluation
MEMORY_LIMIT = 256 * 1024 * 1024  # growth of the process while one evaluation runs

# names that must never be callable from a diagram; reported at deploy time with a clear reason
FORBIDDEN_NAMES = frozenset({
    "open", "eval", "exec", "compile", "__import__", "getattr", "setattr", "delattr", "globals", "locals", "vars",
    "input", "breakpoint", "help", "memoryview", "type", "object", "super", "dir", "exit", "quit", "classmethod",
    "staticmethod", "property", "__builtins__", "print"})


_FORBIDDEN_ATTRIBUTES = frozenset({"format", "format_map", "mro"})


class ScriptError(Exception):
    """Diagram code was refused or stopped (size, time or memory limit, forbidden name)."""


class _BudgetExceeded(BaseException):
    """Raised inside diagram code when the budget is spent; BaseException so `except Exception` cannot keep it."""


# --- compile time -------------------------------------------------------------------------------------------------

_GUARDED_BINOPS = {ast.Add: "_add_", ast.Mult: "_mul_", ast.Pow: "_pow_", ast.LShift: "_lshift_", ast.Mod: "_mod_"}
_WIDTH_IN_SPEC = re.compile(r"\d{5,}")


class DiagramPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus the rules above (errors are collected, then reported together)."""

    def visit_Import(self, node: ast.AST) -> ast.AST:
        self.error(node, "不允许导入模块（import）")
        return node

    visit_ImportFrom = visit_Import

    def visit_ClassDef(self, node: ast.AST) -> ast.AST:
        self.error(node, "不允许定义类（class）")
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        spec = node.format_spec
        if spec is not None:
            parts = spec.values if isinstance(spec, ast.JoinedStr) else [spec]
            if any(not isinstance(p, ast.Constant) or _WIDTH_IN_SPEC.search(str(p.value)) for p in parts):
                self.error(node, "f-string 的格式说明只能是较短的常量")
        return self.node_contents_visit(node)

    def visit_While(self, node: ast.While) -> ast.AST:
        node = self.node_contents_visit(node)
        node.body.insert(0, _budget_check(node))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node = super().visit_FunctionDef(node)
        node.body.insert(0, _budget_check(node))
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        node = super().visit_Lambda(node)
        check = _budget_check(node).value
        node.body = ast.copy_location(ast.BoolOp(op=ast.Or(), values=[check, node.body]), node.body)
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        node = super().visit_ExceptHandler(node)
        node.body.insert(0, _budget_check(node))
        return node

    def visit_Try(self, node: ast.Try) -> ast.AST:
        node = super().visit_Try(node)
        if node.finalbody:
            node.finalbody.insert(0, _budget_check(node.finalbody[0]))
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.node_contents_visit(node)
        guard = _GUARDED_BINOPS.get(type(node.op))
        if guard is None:
            return node
        name = ast.copy_location(ast.Name(guard, ast.Load()), node)
        return ast.copy_location(ast.Call(func=name, args=[node.left, node.right], keywords=[]), node)


def _budget_check(near: ast.AST) -> ast.Expr:
    """`_budget_()` as a statement, placed at `near`'s position."""
    call = ast.Call(func=ast.Name("_budget_", ast.Load()), args=[], keywords=[])
    return ast.fix_missing_locations(ast.copy_location(ast.Expr(value=ast.copy_location(call, near)), near))


def _chinese(message: str) -> str:
    """RestrictedPython's English compile errors in the words the modeler shows."""
    m = re.match(r"Line (\d+): (.*)", message)
    line, text = (m.group(1), m.group(2)) if m else (None, message)
    name = re.search(r'"([^"]+)"', text)
    if "starts with \"_\"" in text and name:
        text = f"不允许使用以下划线开头的名称或属性 {name.group(1)}"
    elif "restricted name" in text and name:
        text = f"不允许访问 {name.group(1)}"
    elif "SyntaxError" in text or "invalid syntax" in text:
        text = "Python 语法错误：" + text.split(":", 1)[-1].strip()
    return f"第 {line} 行：{text}" if line else text


def problems(source: str, mode: str) -> list[str]:
    """Every reason the code cannot run in the sandbox (syntax, forbidden constructs and names), in Chinese."""
    try:
        tree = ast.parse(source.strip(), mode=mode)
    except SyntaxError as exc:
        return [f"第 {exc.lineno} 行：Python 语法错误（{syntax_words(exc.msg)}）"]
    found = [f"第 {n.lineno} 行：不允许使用 {n.id}" for n in ast.walk(tree)
             if isinstance(n, ast.Name) and n.id in FORBIDDEN_NAMES and not n.id.startswith("_")]
    found += [f"第 {n.lineno} 行：不允许使用 .{n.attr}（字符串请用 % 或 f-string）" for n in ast.walk(tree)
              if isinstance(n, ast.Attribute) and n.attr in _FORBIDDEN_ATTRIBUTES]
    result = _compile(source.strip(), mode)
    if isinstance(result, list):
        found += [_chinese(e) for e in result]
    return list(dict.fromkeys(found))


_SYNTAX_WORDS = (("invalid syntax", "语法无效"), ("was never closed", "括号没有闭合"), ("unmatched", "括号不匹配"),
                 ("unterminated string", "字符串缺少结束引号"), ("unexpected EOF", "代码不完整"),
                 ("unexpected indent", "缩进有误"), ("expected an indented block", "缺少缩进的代码块"),
                 ("expected ':'", "缺少冒号"), ("invalid character", "含有非法字符"),
                 ("cannot assign to", "不能给表达式赋值"))


def syntax_words(message: str) -> str:
    """Python's syntax error message in Chinese (the original kept in brackets for the ones we do not know)."""
    for english, chinese in _SYNTAX_WORDS:
        if english in message:
            return chinese
    return f"语法错误（{message}）"


@functools.lru_cache(maxsize=2048)
def _compile(source: str, mode: str) -> types.CodeType | list[str]:
    """The compiled code, or the compile errors. Cached: conditions and scripts run over and over."""
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    try:
        result = compiler(source, filename=FILENAME, policy=DiagramPolicy)
    except SyntaxError as exc:
        return [f"Line {exc.lineno}: SyntaxError: {exc.msg}"]
    if result.errors or result.code is None:
        return list(result.errors) or ["cannot compile"]
    return result.code


def compiled(source: str, mode: str) -> types.CodeType:
    code = _compile(source.strip(), mode)
    if isinstance(code, list):
        raise ScriptError("；".join(_chinese(e) for e in code))
    return code


# --- run time guards ------------------------------------------------------------------------------------------------

def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | bytearray | list | tuple) else 0


def _check_seq(length: int) -> None:
    if length > MAX_CHARS:
        raise ScriptError(f"结果过大（{length} 个字符/元素）")


def _check_int(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ScriptError("整数结果过大")
    return value


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, str | bytes | list | tuple) and isinstance(b, str | bytes | list | tuple):
        _check_seq(_size(a) + _size(b))
    return _check_int(a + b)


def _mul(a: Any, b: Any) -> Any:
    for seq, n in ((a, b), (b, a)):
        if isinstance(seq, str | bytes | list | tuple) and isinstance(n, int):
            limit = MAX_CHARS if isinstance(seq, str | bytes) else MAX_ITEMS
            if _size(seq) * max(n, 0) > limit:
                raise ScriptError(f"重复结果过大（{_size(seq)} × {n}）")
    if isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > MAX_INT_BITS + 1:
        raise ScriptError("整数结果过大")
    return a * b


def _pow(a: Any, b: Any, modulo: Any = None) -> Any:
    if modulo is not None:
        return builtins.pow(a, b, modulo)
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1 and b * a.bit_length() > MAX_INT_BITS:
        raise ScriptError("乘方结果过大")
    if isinstance(b, int) and isinstance(a, float) and abs(b) > 10_000:
        raise ScriptError("乘方指数过大")
    return a**b


def _lshift(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > MAX_INT_BITS:
        raise ScriptError("移位结果过大")
    return _check_int(a << b)


_PERCENT_WIDTH = re.compile(r"%[-#0 +]*(\d+|\*)?(?:\.(\d+|\*))?")


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, str | bytes):
        fmt = a.decode("latin-1") if isinstance(a, bytes) else a
        for width, precision in _PERCENT_WIDTH.findall(fmt):
            if "*" in (width, precision) or len(width) > 4 or len(precision) > 4:
                raise ScriptError("格式化宽度过大")
    return a % b


_INPLACE = {"+=": _add, "*=": _mul, "**=": _pow, "<<=": _lshift, "%=": _mod, "-=": lambda a, b: a - b,
            "/=": lambda a, b: a / b, "//=": lambda a, b: a // b, ">>=": lambda a, b: a >> b,
            "&=": lambda a, b: a & b, "|=": lambda a, b: a | b, "^=": lambda a, b: a ^ b,
            "@=": lambda a, b: a @ b}


def _inplacevar(op: str, a: Any, b: Any) -> Any:
    if isinstance(a, list) and op == "+=":
        return _extend_guard(a.extend, a)(b) or a
    if op not in _INPLACE:
        raise ScriptError(f"不支持的运算 {op}")
    return _INPLACE[op](a, b)


def _range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_ITEMS:
        raise ScriptError(f"range 过大（{len(r)} 个元素，上限 {MAX_ITEMS}）")
    return r


def _width_guard(method: Callable) -> Callable:
    def guarded(width: int, *rest: Any) -> Any:
        if isinstance(width, int) and width > MAX_CHARS:
            raise ScriptError("字符串宽度过大")
        return method(width, *rest)
    return guarded


def _join_guard(method: Callable, separator: str | bytes) -> Callable:
    def guarded(items: Iterable) -> Any:
        items = list(items)
        total = sum(_size(i) for i in items) + _size(separator) * max(len(items) - 1, 0)
        _check_seq(total)
        return method(items)
    return guarded


def _replace_guard(method: Callable, text: str | bytes) -> Callable:
    def guarded(old: Any, new: Any, count: int = -1) -> Any:
        hits = text.count(old) if _size(old) else len(text) + 1
        if count >= 0:
            hits = min(hits, count)
        _check_seq(len(text) + hits * max(_size(new) - _size(old), 0))
        return method(old, new, count)
    return guarded


def _translate_guard(method: Callable, text: str) -> Callable:
    def guarded(table: Any) -> Any:
        longest = max((_size(v) for v in table.values()), default=1) if isinstance(table, dict) else 1
        _check_seq(len(text) * max(longest, 1))
        return method(table)
    return guarded


def _extend_guard(method: Callable, target: list) -> Callable:
    def guarded(items: Iterable) -> Any:
        items = list(items)
        if len(target) + len(items) > MAX_ITEMS:
            raise ScriptError("列表过大")
        return method(items)
    return guarded


def _getattr(obj: Any, name: str) -> Any:
    if name in INSPECT_ATTRIBUTES or name in _FORBIDDEN_ATTRIBUTES or name in ("gi_yieldfrom", "cr_await"):
        raise AttributeError(f"不允许访问属性 {name}")
    value = safer_getattr_raise(obj, name)
    if isinstance(obj, str | bytes):
        if name in ("ljust", "rjust", "center", "zfill", "expandtabs"):
            return _width_guard(value)
        if name == "join":
            return _join_guard(value, obj)
        if name == "replace":
            return _replace_guard(value, obj)
        if name == "translate" and isinstance(obj, str):
            return _translate_guard(value, obj)
    if isinstance(obj, list) and name == "extend":
        return _extend_guard(value, obj)
    return value


def _getitem(obj: Any, key: Any) -> Any:
    return obj[key]


def _apply(func: Callable, *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


# modules are not reachable: only these classes, under the names diagrams use
_DATETIME = types.SimpleNamespace(datetime=datetime.datetime, date=datetime.date, timedelta=datetime.timedelta,
                                  timezone=datetime.timezone, time=datetime.time)

_SAFE_BUILTIN_NAMES = (
    "None", "False", "True", "abs", "all", "any", "bool", "chr", "dict", "divmod", "enumerate", "filter", "float",
    "frozenset", "int", "isinstance", "len", "list", "map", "max", "min", "ord", "repr", "reversed", "round", "set",
    "slice", "sorted", "str", "sum", "tuple", "zip", "ArithmeticError", "AssertionError", "Exception",
    "IndexError", "KeyError", "LookupError", "NameError", "TypeError", "ValueError", "ZeroDivisionError")
SAFE_BUILTINS: dict[str, Any] = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES}
SAFE_BUILTINS.update({"range": _range, "pow": _pow})



# --- the budget -------------------------------------------------------------------------------------------------------

def _rss() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * 4096
    except (OSError, ValueError, IndexError):
        return 0


class _Budget:
    """Time and memory one run may use; checked by the code the policy compiled in."""

    def __init__(self, time_limit: float, memory_limit: int):
        self.deadline = time.monotonic() + time_limit
        self.memory_ceiling = _rss() + memory_limit
        self.checks = 0
        self.spent: str | None = None
        self.time_limit = time_limit

    def check(self) -> None:
        if self.spent is None:
            self.checks += 1
            if self.checks % 64:
                return
            if time.monotonic() > self.deadline:
                self.spent = f"运行超过 {self.time_limit:g} 秒，已被终止"
            elif self.checks % 512 == 0 and _rss() > self.memory_ceiling:
                self.spent = "占用内存过多，已被终止"
            if self.spent is None:
                return
        raise _BudgetExceeded(self.spent)


_running = threading.local()


def _budget() -> None:
    budget = getattr(_running, "budget", None)
    if budget is None:
        raise _BudgetExceeded("脚本只能在流程运行时执行")  # e.g. a function a script left behind
    budget.check()


def _guarded_iter(iterable: Any) -> Any:
    for item in iter(iterable):
        _budget()
        yield item


def run(code: types.CodeType, scope: dict[str, Any], mode: str, *, time_limit: float, memory_limit: int) -> Any:
    """Run compiled diagram code in `scope` (its globals) within the budget; ScriptError when it is refused."""
    previous = getattr(_running, "budget", None)
    _running.budget = _Budget(time_limit, memory_limit)
    try:
        return eval(code, scope) if mode == "eval" else exec(code, scope)  # noqa: S102, S307 - restricted code
    except _BudgetExceeded as exc:
        raise ScriptError(str(exc)) from None
    except RecursionError:
        raise ScriptError("递归过深") from None
    except MemoryError:
        raise ScriptError("内存不足") from None
    finally:
        _running.budget = previous


_GUARDS: dict[str, Any] = {
    "__builtins__": SAFE_BUILTINS, "__name__": "diagram", "__metaclass__": None,
    "_getattr_": _getattr, "_getitem_": _getitem, "_getiter_": _guarded_iter, "_budget_": _budget,
    "_write_": full_write_guard,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence, "_unpack_sequence_": guarded_unpack_sequence,
    "_inplacevar_": _inplacevar, "_print_": PrintCollector, "_apply_": _apply,
    "_add_": _add, "_mul_": _mul, "_pow_": _pow, "_lshift_": _lshift, "_mod_": _mod,
    "datetime": _DATETIME,
}


# --- the environment SpiffWorkflow calls ------------------------------------------------------------------------

_STORABLE = (str, int, float, bool, type(None), dict, list, tuple, set, datetime.datetime, datetime.date,
             datetime.timedelta)


def _check_storable(value: Any, name: str, depth: int = 0) -> None:
    """Task data must survive the serializer: plain data only (a generator or a range in task data would break
    saving the instance after the step already ran)."""
    if depth > 50:
        raise ScriptError(f"变量 {name} 嵌套过深")
    if not isinstance(value, _STORABLE) or isinstance(value, frozenset):
        raise ScriptError(f"变量 {name} 的值（{type(value).__name__}）不能保存在流程数据中")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str | int):
                raise ScriptError(f"变量 {name} 的键必须是字符串")
            _check_storable(item, name, depth + 1)
    elif isinstance(value, list | tuple | set):
        for item in value:
            _check_storable(item, name, depth + 1)


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow's script environment, restricted: same data semantics as TaskDataEnvironment (scripts read and
    write task data as variables; functions and globals are removed afterwards)."""

    def __init__(self, functions: dict[str, Callable], *, time_limit: float | None = None,
                 memory_limit: int | None = None):
        super().__init__({**_GUARDS, **functions})
        self.time_limit = time_limit  # None: the module's limits, read at each run
        self.memory_limit = memory_limit

    def _run(self, code: types.CodeType, scope: dict[str, Any], mode: str) -> Any:
        return run(code, scope, mode, time_limit=self.time_limit or TIME_LIMIT,
                   memory_limit=self.memory_limit or MEMORY_LIMIT)

    def evaluate(self, expression: str, context: dict[str, Any], external_context: dict | None = None) -> Any:
        scope = {**self.globals, **(external_context or {}), **context}
        scope["__builtins__"] = SAFE_BUILTINS  # task data cannot replace the builtins
        return self._run(compiled(expression, "eval"), scope, "eval")

    def execute(self, script: str, context: dict[str, Any], external_context: dict | None = None) -> bool:
        clashes = (set(self.globals) | set(external_context or {})) & set(context)
        if clashes:
            raise ScriptError(f"流程数据中的变量与内置函数重名：{'、'.join(sorted(clashes))}")
        code = compiled(script, "exec")
        data_keys = set(context)
        context.update(external_context or {})
        context.update(self.globals)
        try:
            self._run(code, context, "exec")
        finally:
            for key in list(context):
                if key in self.globals or (external_context and key in external_context) or \
                        callable(context[key]) or (key.startswith("_") and key not in data_keys):
                    context.pop(key)
        for key, value in context.items():
            _check_storable(value, key)
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> Any:
        raise ScriptError("本系统的流程不能调用外部服务（service task）")
