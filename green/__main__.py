"""``python -m green [options] script.py [args]`` / ``python -m green -m module [args]``.

Monkey-patches the process, then runs the script or module as ``python`` would: as ``__main__``,
with ``sys.argv`` set to the script and its arguments, ``sys.path[0]`` its directory (the current
directory for ``-m``), exceptions printed as tracebacks and ``SystemExit`` codes kept.

``--eventlet`` runs a program written for eventlet instead: ``import eventlet`` gives green (see
green.compat.eventlet; child Python processes get it too), and nothing is patched up front --
the program calls ``eventlet.monkey_patch()`` itself, as it did under eventlet.
``--eventlet-path`` prints the directory to put on PYTHONPATH to give any interpreter the alias.
"""

from __future__ import annotations

import os
import runpy
import sys

from green.patcher import _GROUPS, monkey_patch
from green.patcher._libraries import LIBRARIES

_USAGE = f"""usage: python -m green [--hub epoll|poll|select] [--no-patch NAME]... (script.py | -m module) [args]
       python -m green --eventlet [--hub epoll|poll|select] (script.py | -m module) [args]
       python -m green --eventlet-path

Run a Python script or module with the stdlib monkey-patched to be green.
--no-patch NAME leaves one group unpatched (repeatable): {", ".join(sorted([*_GROUPS, *LIBRARIES]))}.
--eventlet runs a program written for eventlet on green unchanged (`import eventlet` gives green,
  in child Python processes too); the program patches what it patches under eventlet.
--eventlet-path prints the directory that, put on PYTHONPATH, gives any Python the eventlet alias.
"""


def _fail(message: str) -> None:
    sys.stderr.write(_USAGE + f"python -m green: error: {message}\n")
    raise SystemExit(2)


def _parse(argv: list[str]) -> tuple[str | None, str | None, list[str], str | None, list[str]]:
    """(module, script, args, hub, unpatched); everything after the script or module is its own.

    ``--eventlet`` puts ``"eventlet"`` in `unpatched` (it means: alias, no up-front patching).
    """
    hub: str | None = None
    unpatched: list[str] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        if word in ("-h", "--help"):
            sys.stdout.write(_USAGE)
            raise SystemExit(0)
        if word == "--eventlet-path":
            from green.compat.eventlet import ALIAS_PATH

            sys.stdout.write(ALIAS_PATH + "\n")
            raise SystemExit(0)
        if word == "--eventlet":
            unpatched.append("eventlet")
            index += 1
            continue
        if word == "-m" or (word.startswith("-m") and len(word) > 2):
            module = argv[index + 1] if word == "-m" and index + 1 < len(argv) else word[2:]
            if not module:
                _fail("-m needs a module name")
            rest = argv[index + 2 :] if word == "-m" else argv[index + 1 :]
            return module, None, rest, hub, unpatched
        if word in ("--hub", "--no-patch") or word.startswith(("--hub=", "--no-patch=")):
            if "=" in word:
                option, value = word.split("=", 1)
            else:
                if index + 1 >= len(argv):
                    _fail(f"{word} needs a value")
                option, value = word, argv[index + 1]
                index += 1
            if option == "--hub":
                if value not in ("epoll", "poll", "select"):
                    _fail(f"unknown hub {value!r}")
                hub = value
            else:
                if value not in _GROUPS and value not in LIBRARIES:
                    _fail(f"unknown group {value!r}")
                unpatched.append(value)
            index += 1
            continue
        if word == "--":
            index += 1
            if index >= len(argv):
                break
            return None, argv[index], argv[index + 1 :], hub, unpatched
        if word.startswith("-") and word != "-":
            _fail(f"unknown option {word!r}")
        return None, word, argv[index + 1 :], hub, unpatched
    _fail("a script or -m module is required")
    raise AssertionError("unreachable")


def main(argv: list[str] | None = None) -> None:
    module, script, args, hub, unpatched = _parse(sys.argv[1:] if argv is None else argv)
    if hub:
        from green.hubs import use_hub

        use_hub(hub)
    if "eventlet" in unpatched:
        from green.compat.eventlet import install

        install()
    else:
        monkey_patch(**{name: False for name in unpatched})
    if module is not None:
        sys.argv = [module, *args]
        sys.path.insert(0, os.getcwd())
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        assert script is not None
        sys.argv = [script, *args]
        sys.path[0] = os.path.dirname(os.path.abspath(script))
        runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
