"""Green replacement of the stdlib `subprocess` module.

`Popen` is the stdlib's class with the three places that block replaced: ``wait`` parks on a
pidfd (or polls ``waitpid(WNOHANG)`` with a backoff, see green._process), and ``communicate``
moves data through the pipes in helper green threads -- one per pipe, each setting its end of the
pipe non-blocking for the duration and parking on the hub when the pipe is not ready. Pipe ends
are the parent's own (the child holds the other ends), so the mode change is invisible to the
child. Timeouts, ``TimeoutExpired`` carrying the partial output, and a second ``communicate()``
after a timeout continuing where the first stopped all behave as in the stdlib, because the green
code keeps its state in the same private attributes the stdlib's code does.

`run`, `call`, `check_call`, `check_output`, `getoutput` and `getstatusoutput` are defined here
over the green `Popen` (the stdlib's would construct its own, blocking, class). Everything else is
the stdlib's.
"""

from __future__ import annotations

import sys
import typing as _typing

from green._process import wait_for_exit as _wait_for_exit
from green._stdlib import original as _original
from green._stdlib import reexport as _reexport
from green.greenthread import GreenThread as _GreenThread
from green.greenthread import spawn as _spawn
from green.hubs import get_hub as _get_hub
from green.hubs import monotonic as _monotonic
from green.timeout import Timeout as _Timeout

if _typing.TYPE_CHECKING:
    from typing import Any

_subprocess = _original("subprocess")

__green__ = "subprocess"
__implements__ = ["Popen", "run", "call", "check_call", "check_output", "getoutput", "getstatusoutput"]
__removes__: list[str] = []

_reexport(globals(), _subprocess, __implements__, __removes__)

# Bound after the re-export above, which copies the stdlib module's own private names too.
_os = _original("os")

__all__ = list(_subprocess.__all__)

PIPE = _subprocess.PIPE
STDOUT = _subprocess.STDOUT
TimeoutExpired = _subprocess.TimeoutExpired
CalledProcessError = _subprocess.CalledProcessError
CompletedProcess = _subprocess.CompletedProcess

_CHUNK = 32768
_PIPE_BUF = getattr(_original("select"), "PIPE_BUF", 512)


# Typed as Any: the green class relies on the stdlib class's private attributes.
_StdlibPopen: Any = _subprocess.Popen


class Popen(_StdlibPopen):
    """`subprocess.Popen` whose ``wait`` and ``communicate`` park only the calling green thread.

    Same arguments, attributes, results and errors as the stdlib's class.
    """

    _communication_started: bool

    # Mirrors CPython 3.13 Lib/subprocess.py Popen._wait, POSIX branch (the same in 3.10-3.12), with
    # the sleep-and-poll loop replaced by a green wait for the child's exit.
    def _wait(self, timeout: float | None) -> int | None:  # type: ignore[override]
        if self.returncode is not None:
            return self.returncode
        endtime = None if timeout is None else _monotonic() + timeout
        while self.returncode is None:
            if self._waitpid_lock.acquire(False):
                try:
                    if self.returncode is not None:
                        break
                    pid, status = self._try_wait(_os.WNOHANG)
                    if pid == self.pid:
                        self._handle_exitstatus(status)
                        break
                finally:
                    self._waitpid_lock.release()
            if endtime is None:
                _wait_for_exit(self.pid)
            else:
                remaining = endtime - _monotonic()
                if remaining <= 0:
                    raise TimeoutExpired(self.args, timeout)
                _wait_for_exit(self.pid, min(remaining, 0.05))
        return self.returncode

    # Mirrors CPython 3.13 Lib/subprocess.py Popen.communicate (the same in 3.10-3.12): only its
    # single-pipe shortcut is redone here; the rest is the stdlib's own method.
    def communicate(self, input: Any = None, timeout: float | None = None) -> tuple[Any, Any]:
        """Send `input`, read stdout/stderr to the end, wait for the process; as the stdlib's.

        Raises TimeoutExpired (with the output so far) after `timeout` seconds; calling it again
        continues. Raises ValueError for input after communication started.
        """
        if self._communication_started and input:
            raise ValueError("Cannot send input after starting communication")
        if (
            timeout is None
            and not self._communication_started
            and [self.stdin, self.stdout, self.stderr].count(None) >= 2
        ):
            # The stdlib reads or writes a single pipe directly here, which would block the hub.
            try:
                stdout, stderr = self._communicate(input, None, None)
            finally:
                self._communication_started = True
            self.wait()
            return stdout, stderr
        return super().communicate(input, timeout)  # type: ignore[no-any-return]

    # Mirrors CPython 3.13 Lib/subprocess.py Popen._communicate, POSIX branch (the same in 3.10-3.12):
    # the same private state (_fileobj2output, _input, _communication_started), with green threads
    # feeding and draining the pipes instead of a selector.
    def _communicate(self, input: Any, endtime: float | None, orig_timeout: float | None) -> tuple[Any, Any]:
        if self.stdin and not self._communication_started:
            try:
                self.stdin.flush()
            except BrokenPipeError:
                pass
            if not input:
                try:
                    self.stdin.close()
                except BrokenPipeError:
                    pass
        if not self._communication_started:
            self._fileobj2output: dict[Any, list[bytes]] = {}
            for stream in (self.stdout, self.stderr):
                if stream:
                    self._fileobj2output[stream] = []
        stdout = self._fileobj2output[self.stdout] if self.stdout else None
        stderr = self._fileobj2output[self.stderr] if self.stderr else None
        self._save_input(input)

        helpers: list[_GreenThread] = []
        if self.stdin and input and not self.stdin.closed:
            helpers.append(_spawn(self._feed_stdin))
        for stream in (self.stdout, self.stderr):
            if stream and not stream.closed:
                helpers.append(_spawn(self._drain, stream))
        remaining = self._remaining_time(endtime)
        try:
            with _Timeout(remaining if remaining is None or remaining > 0 else 0.0):
                for helper in helpers:
                    helper.wait()
        except _Timeout:
            for helper in helpers:
                helper.kill()
            self._check_timeout(endtime, orig_timeout, stdout, stderr, skip_check_and_raise=True)
            raise  # pragma: no cover - _check_timeout raised TimeoutExpired
        except BaseException:
            for helper in helpers:
                helper.kill()
            raise

        self.wait(timeout=self._remaining_time(endtime))
        out = b"".join(stdout) if stdout is not None else None
        err = b"".join(stderr) if stderr is not None else None
        if self.text_mode:
            if out is not None:
                out = self._translate_newlines(out, self.stdout.encoding, self.stdout.errors)
            if err is not None:
                err = self._translate_newlines(err, self.stderr.encoding, self.stderr.errors)
        return out, err

    def _feed_stdin(self) -> None:
        stream = self.stdin
        assert stream is not None
        fd = stream.fileno()
        hub = _get_hub()
        data = memoryview(self._input)
        finished = False
        _os.set_blocking(fd, False)
        try:
            while self._input_offset < len(data):
                try:
                    self._input_offset += _os.write(
                        fd, data[self._input_offset : self._input_offset + _CHUNK]
                    )
                except BlockingIOError:
                    hub.wait_writable(fd)
                except BrokenPipeError:
                    break
            finished = True
        finally:
            hub.notify_closing(fd)
            if finished:
                try:
                    stream.close()
                except BrokenPipeError:
                    pass
            else:
                _os.set_blocking(fd, True)

    def _drain(self, stream: Any) -> None:
        fd = stream.fileno()
        output = self._fileobj2output[stream]
        hub = _get_hub()
        finished = False
        _os.set_blocking(fd, False)
        try:
            while True:
                try:
                    data = _os.read(fd, _CHUNK)
                except BlockingIOError:
                    hub.wait_readable(fd)
                    continue
                if not data:
                    break
                output.append(data)
            finished = True
        finally:
            hub.notify_closing(fd)
            if finished:
                stream.close()
            else:
                _os.set_blocking(fd, True)


# Mirrors CPython 3.13 Lib/subprocess.py run, call, check_call (the same in 3.10-3.12),
# check_output (3.11-3.13) and getstatusoutput/getoutput (3.11-3.13; 3.10's take no encoding, below).
def run(
    *popenargs: Any,
    input: Any = None,
    capture_output: bool = False,
    timeout: float | None = None,
    check: bool = False,
    **kwargs: Any,
) -> Any:
    """`subprocess.run` over the green `Popen`; same arguments, result and errors."""
    if input is not None:
        if kwargs.get("stdin") is not None:
            raise ValueError("stdin and input arguments may not both be used.")
        kwargs["stdin"] = PIPE
    if capture_output:
        if kwargs.get("stdout") is not None or kwargs.get("stderr") is not None:
            raise ValueError("stdout and stderr arguments may not be used with capture_output.")
        kwargs["stdout"] = PIPE
        kwargs["stderr"] = PIPE
    with Popen(*popenargs, **kwargs) as process:
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        except TimeoutExpired:
            process.kill()
            # The output so far is already on the exception; a grandchild may keep the pipes
            # open, so do not read them to the end.
            process.wait()
            raise
        except BaseException:
            process.kill()
            raise
        returncode = process.poll()
        if check and returncode:
            raise CalledProcessError(returncode, process.args, output=stdout, stderr=stderr)
    return CompletedProcess(process.args, returncode, stdout, stderr)


def call(*popenargs: Any, timeout: float | None = None, **kwargs: Any) -> int:
    """`subprocess.call` over the green `Popen`: run a command and return its exit status."""
    with Popen(*popenargs, **kwargs) as process:
        try:
            return process.wait(timeout=timeout)
        except BaseException:
            process.kill()
            raise


def check_call(*popenargs: Any, **kwargs: Any) -> int:
    """`subprocess.check_call`: like `call`, raising CalledProcessError for a non-zero status."""
    returncode = call(*popenargs, **kwargs)
    if returncode:
        command = kwargs.get("args")
        if command is None:
            command = popenargs[0]
        raise CalledProcessError(returncode, command)
    return 0


def check_output(*popenargs: Any, timeout: float | None = None, **kwargs: Any) -> Any:
    """`subprocess.check_output` over the green `Popen`; same arguments, result and errors."""
    for name in ("stdout", "check"):
        if name in kwargs:
            raise ValueError(f"{name} argument not allowed, it will be overridden.")
    if "input" in kwargs and kwargs["input"] is None:
        text = (
            kwargs.get("universal_newlines")
            or kwargs.get("text")
            or kwargs.get("encoding")
            or kwargs.get("errors")
        )
        kwargs["input"] = "" if text else b""
    return run(*popenargs, stdout=PIPE, timeout=timeout, check=True, **kwargs).stdout


def getstatusoutput(cmd: Any, *, encoding: str | None = None, errors: str | None = None) -> tuple[int, str]:
    """`subprocess.getstatusoutput` over the green `Popen`: (exit status, output) of a shell command."""
    try:
        data = check_output(cmd, shell=True, text=True, stderr=STDOUT, encoding=encoding, errors=errors)
        status = 0
    except CalledProcessError as failure:
        data = failure.output
        status = failure.returncode
    if data[-1:] == "\n":
        data = data[:-1]
    return status, data


def getoutput(cmd: Any, *, encoding: str | None = None, errors: str | None = None) -> str:
    """`subprocess.getoutput` over the green `Popen`: the output of a shell command."""
    return getstatusoutput(cmd, encoding=encoding, errors=errors)[1]


if sys.version_info < (3, 11):
    # 3.10's getstatusoutput/getoutput take no encoding arguments.
    _getstatusoutput = getstatusoutput

    def getstatusoutput(cmd: Any) -> tuple[int, str]:  # type: ignore[misc]  # noqa: F811
        return _getstatusoutput(cmd)

    def getoutput(cmd: Any) -> str:  # type: ignore[misc]  # noqa: F811
        return _getstatusoutput(cmd)[1]


# Keep the module's public names those of the stdlib's (the __future__ import binds one).
del annotations
