"""The functions and modules that BPMN expressions and scripts may use."""
from __future__ import annotations

import datetime

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment


def _globals() -> dict:
    return {"datetime": datetime, "len": len, "any": any, "all": all, "sorted": sorted}


def make_script_engine() -> PythonScriptEngine:
    return PythonScriptEngine(environment=TaskDataEnvironment(_globals()))


def evaluate(expression: str, data: dict) -> object:
    """Evaluate a Python expression (e.g. a department expression) against task data."""
    return eval(expression, {"__builtins__": {}, **_globals()}, dict(data))  # noqa: S307 - diagrams are admin-deployed
