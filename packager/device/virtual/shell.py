"""The virtual handset's shell: the language of /system/bin/sh that harnesses and people use.

POSIX quoting ('...' literal; "..." with \\ escapes and $ expansion; \\x), `;` `&&` `||` `|`,
new lines and `#` comments (so scripts run),
redirects `>` `>>` `2>` `2>>` `2>&1` `<`, `$?`, `$NAME`/`${NAME}` from a small environment,
exit codes, `cd`/`exit`. Commands live in a table (`commands.COMMANDS`, handed over by the handset) where adding
one is one function. Command substitution (`$(...)`, backquotes) is refused with a syntax error
rather than silently passed through as text.

The tokenizer is our own rather than shlex: shlex cannot tell a quoted ';' or '2>' from the
operator, and here that difference decides whether a file name becomes a command.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packager.device.virtual.fs import Sandbox, file_mode

if TYPE_CHECKING:  # pragma: no cover
    from packager.device.virtual.parts import Device

STATUS_MARK = "\x00?\x00"  # `$?`, replaced with the last exit status when the command runs
OPERATORS = ("&&", "||", "2>&1", "2>>", ">>", "2>", ";", "|", ">", "<", "&")
ENVIRONMENT = {
    "PATH": "/product/bin:/apex/com.android.runtime/bin:/system/bin:/system/xbin:/odm/bin:/vendor/bin",
    "ANDROID_DATA": "/data", "ANDROID_ROOT": "/system", "EXTERNAL_STORAGE": "/sdcard", "TMPDIR": "/data/local/tmp",
    "HOSTNAME": "localhost", "SHELL": "/bin/sh", "TERM": "dumb",
}


class ShellError(Exception):
    """A command failed: a message for stderr and an exit code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class ExitShell(Exception):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class LazyInput:
    """Standard input that is read from the host only when a command asks for it.

    `next_chunk` returns the next bytes the host sent, or None once it closed its side."""

    def __init__(self, next_chunk: Callable[[], bytes | None]):
        self._next_chunk = next_chunk
        self._buffer = bytearray()
        self._eof = False
        self._lock = threading.Lock()

    def read(self, size: int | None = None) -> bytes:
        """`size` bytes (fewer only at end of input), or everything until the host closes it."""
        with self._lock:
            while not self._eof and (size is None or len(self._buffer) < size):
                chunk = self._next_chunk()
                if chunk is None:
                    self._eof = True
                else:
                    self._buffer.extend(chunk)
            size = len(self._buffer) if size is None else min(size, len(self._buffer))
            data = bytes(self._buffer[:size])
            del self._buffer[:size]
            return data


# --- parsing ----------------------------------------------------------------------------------
@dataclass
class Simple:
    argv: list[str]
    patterns: dict[int, str] = field(default_factory=dict)  # argv index -> glob pattern
    redirects: list[tuple[str, str]] = field(default_factory=list)  # (op, target); '2>&1' has no target


@dataclass
class Pipeline:
    commands: list[Simple]


def _variable(line: str, i: int, env: dict[str, str]) -> tuple[str, int]:
    """Expand the `$...` at line[i]; returns (text, next index)."""
    rest = line[i + 1 :]
    if rest.startswith("?"):
        return STATUS_MARK, i + 2
    if rest.startswith("("):
        raise ShellError("syntax error: command substitution $(...) is not supported by the virtual handset", 2)
    if rest.startswith("{"):
        end = rest.find("}")
        if end < 0:
            raise ShellError("syntax error: bad substitution", 2)
        return env.get(rest[1:end], ""), i + end + 2
    length = 0
    while length < len(rest) and (rest[length].isalnum() or rest[length] == "_"):
        length += 1
    if length == 0:
        return "$", i + 1
    return env.get(rest[:length], ""), i + 1 + length


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def tokenize(line: str, env: dict[str, str] | None = None) -> list[tuple[str, bool, str | None]]:
    """(token, is_operator, glob pattern) triples, quotes removed and variables expanded. The
    pattern is set only for words with an unquoted * ? or [ (quoted parts escaped in it)."""
    env = ENVIRONMENT if env is None else env
    tokens: list[tuple[str, bool, str | None]] = []
    parts: list[tuple[str, bool]] = []  # (text, quoted): quoted text never globs
    in_word = False
    i = 0

    def add(text: str, quoted: bool = True) -> None:
        nonlocal in_word
        parts.append((text, quoted))
        in_word = True

    def finish() -> None:
        nonlocal parts, in_word
        if in_word:
            text = "".join(t for t, _ in parts)
            magic = any(not quoted and any(c in t for c in "*?[") for t, quoted in parts)
            pattern = "".join(t if not quoted else _glob_escape(t) for t, quoted in parts) if magic else None
            tokens.append((text, False, pattern))
        parts, in_word = [], False

    while i < len(line):
        c = line[i]
        if c in " \t":
            finish()
            i += 1
        elif c == "\n":  # a new line ends a command, like ';'
            finish()
            tokens.append((";", True, None))
            i += 1
        elif c == "#" and not in_word:  # a comment runs to the end of the line
            end = line.find("\n", i)
            i = len(line) if end < 0 else end
        elif c == "'":
            end = line.find("'", i + 1)
            if end < 0:
                raise ShellError("syntax error: unterminated quoted string", 2)
            add(line[i + 1 : end])
            i = end + 1
        elif c == '"':
            i += 1
            add("")
            while i < len(line) and line[i] != '"':
                if line[i] == "$":
                    text, i = _variable(line, i, env)
                    add(text)
                    continue
                if line[i] == "`":
                    raise ShellError("syntax error: command substitution `...` is not supported by the virtual handset", 2)
                if line[i] == "\\" and i + 1 < len(line) and line[i + 1] in '"\\$`':
                    i += 1
                add(line[i])
                i += 1
            if i >= len(line):
                raise ShellError("syntax error: unterminated quoted string", 2)
            i += 1
        elif c == "$":
            text, i = _variable(line, i, env)
            add(text)
        elif c == "`":
            raise ShellError("syntax error: command substitution `...` is not supported by the virtual handset", 2)
        elif c == "\\" and i + 1 < len(line):
            add(line[i + 1])
            i += 2
        else:
            operator = next((op for op in OPERATORS if line.startswith(op, i)), None)
            # '2>' is an operator only where a word starts (in 'a2>b', '2' belongs to the word)
            if operator and not (operator.startswith("2") and in_word):
                finish()
                tokens.append((operator, True, None))
                i += len(operator)
            else:
                add(c, quoted=False)
                i += 1
    finish()
    return tokens


def parse(line: str, env: dict[str, str] | None = None) -> list[tuple[str, Pipeline]]:
    """[(connector, pipeline)]: the connector (';', '&&', '||') joins it to what came before."""
    out: list[tuple[str, Pipeline]] = []
    connector = ";"
    current: list[Simple] = [Simple([])]
    tokens = tokenize(line, env)
    i = 0
    while i < len(tokens):
        token, is_op, pattern = tokens[i]
        if not is_op:
            if pattern is not None:
                current[-1].patterns[len(current[-1].argv)] = pattern
            current[-1].argv.append(token)
        elif token in (";", "&&", "||", "&"):
            if current[-1].argv or len(current) > 1:
                out.append((connector, Pipeline(current)))
            elif token != ";":
                raise ShellError(f"syntax error: unexpected '{token}'", 2)
            connector = ";" if token == "&" else token
            current = [Simple([])]
        elif token == "|":
            if not current[-1].argv:
                raise ShellError("syntax error: unexpected '|'", 2)
            current.append(Simple([]))
        elif token == "2>&1":
            current[-1].redirects.append((token, ""))
        else:
            if i + 1 >= len(tokens) or tokens[i + 1][1]:
                raise ShellError(f"syntax error: unexpected '{token}'", 2)
            current[-1].redirects.append((token, tokens[i + 1][0]))
            i += 1
        i += 1
    if current[-1].argv or len(current) > 1:
        out.append((connector, Pipeline(current)))
    return out


# --- running ------------------------------------------------------------------------------------
@dataclass
class Context:
    """One shell: who runs it, where, its input and where its output goes."""

    handset: Device
    user: str = "shell"
    cwd: str = "/"
    home: str = "/"
    stdin: bytes | LazyInput = b""
    status: int = 0
    stdout: io.BytesIO = field(default_factory=io.BytesIO)
    stderr: io.BytesIO = field(default_factory=io.BytesIO)
    ended: threading.Event | None = None  # set when the host connection is gone: waiting commands stop

    @property
    def fs(self) -> Sandbox:
        return self.handset.sandbox

    @property
    def env(self) -> dict[str, str]:
        return {**ENVIRONMENT, "HOME": self.home, "USER": self.user, "PWD": self.cwd}

    def path(self, device_path: str, write: bool = False) -> Path:
        return self.fs.host(device_path, self.cwd, self.user, write=write)

    def device_path(self, device_path: str) -> str:
        return self.fs.canonical(device_path, self.cwd)

    def read_stdin(self, size: int | None = None) -> bytes:
        if isinstance(self.stdin, LazyInput):
            return self.stdin.read(size)
        data = self.stdin if size is None else self.stdin[:size]
        self.stdin = self.stdin[len(data):]
        return data

    def out(self, text: str | bytes) -> None:
        self.stdout.write(text.encode() if isinstance(text, str) else text)

    def err(self, text: str) -> None:
        self.stderr.write(text.encode())

    def sub(self, **changes) -> Context:
        values: dict[str, Any] = {"handset": self.handset, "user": self.user, "cwd": self.cwd, "home": self.home, "stdin": b"",
                  "status": self.status, "ended": self.ended}
        values.update(changes)
        return Context(**values)


Command = Callable[[Context, list[str]], int]

SYSTEM_BIN = ("/system/bin/", "/system/xbin/", "/bin/", "/vendor/bin/")


def lookup(ctx: Context, name: str) -> Command:
    """The command `name` runs; ShellError 127 (not found) or 126 (cannot execute) like mksh.
    The table is the handset's (commands.COMMANDS, which the handset hands over): the shell runs
    commands without importing them."""
    COMMANDS = ctx.handset.commands
    if "/" not in name:
        if name in COMMANDS:
            return COMMANDS[name]
        raise ShellError(f"{name}: inaccessible or not found", 127)
    base = name.rsplit("/", 1)[1]
    if any(name.startswith(prefix) for prefix in SYSTEM_BIN) and base in COMMANDS:
        return COMMANDS[base]
    path = ctx.path(name)
    if not path.is_file():
        raise ShellError(f"{name}: inaccessible or not found", 127)
    if not file_mode(path) & 0o111:
        raise ShellError(f"{name}: can't execute: Permission denied", 126)
    head = path.read_bytes()[:4]
    if head == b"\x7fELF":  # a native binary: the virtual handset has no Android userspace to run it
        raise ShellError(f"{name}: can't execute: Exec format error", 126)
    return lambda sub, args: run(sub, path.read_text("utf-8", "replace"))  # a shell script




def run(ctx: Context, line: str) -> int:
    """Run a command line; output goes to ctx.stdout/ctx.stderr; returns the exit status."""
    try:
        program = parse(line, ctx.env)
    except ShellError as exc:
        ctx.err(f"/system/bin/sh: {exc}\n")
        return exc.code
    status = ctx.status
    try:
        for connector, pipeline in program:
            if (connector == "&&" and status != 0) or (connector == "||" and status == 0):
                continue
            status = _run_pipeline(ctx, pipeline)
            ctx.status = status
    except ExitShell as done:
        status = ctx.status = done.code
    return status


def _run_pipeline(ctx: Context, pipeline: Pipeline) -> int:
    data: bytes | LazyInput = ctx.stdin
    status = 0
    for index, simple in enumerate(pipeline.commands):
        sub = ctx.sub(stdin=data)
        try:
            status = _run_simple(sub, simple)
        finally:
            ctx.stderr.write(sub.stderr.getvalue())
            if index == len(pipeline.commands) - 1:
                ctx.stdout.write(sub.stdout.getvalue())
        data = sub.stdout.getvalue()
        if len(pipeline.commands) == 1:
            ctx.cwd = sub.cwd  # `cd` outside a pipeline changes this shell's folder
    return status


def _run_simple(ctx: Context, simple: Simple) -> int:

    status_text = str(ctx.status)
    argv: list[str] = []
    for index, arg in enumerate(simple.argv):
        pattern = simple.patterns.get(index)
        matches = _glob(ctx, pattern.replace(_glob_escape(STATUS_MARK), status_text)) if pattern else []
        argv.extend(matches or [arg.replace(STATUS_MARK, status_text)])  # no match: the word stays as written
    if not argv:
        return 0
    name, args = argv[0], argv[1:]
    try:
        for op, target in simple.redirects:
            if op == "<":
                ctx.stdin = ctx.path(target).read_bytes()
        handler = lookup(ctx, name)  # ShellError 127/126 as mksh says it: "X: inaccessible or not found"
        try:
            status = handler(ctx, args)
        except ShellError as exc:
            ctx.err(f"{name}: {exc}\n")
            status = exc.code
        except (OSError, ValueError) as exc:
            filename = getattr(exc, "filename", None)  # an OSError's; a ValueError has none
            where = _shown(ctx, filename) if filename else ""
            ctx.err(f"{name}: {where + ': ' if where else ''}{getattr(exc, 'strerror', None) or exc}\n")
            status = 1
        _apply_output_redirects(ctx, simple.redirects)
        return status
    except ExitShell:
        raise
    except ShellError as exc:
        ctx.err(f"/system/bin/sh: {exc}\n")
        return exc.code
    except OSError as exc:
        ctx.err(f"/system/bin/sh: {_shown(ctx, exc.filename) if exc.filename else ''}: {exc.strerror or exc}\n")
        return 1


def _glob(ctx: Context, pattern: str) -> list[str]:
    """Paths matching a glob pattern, as written (relative stays relative), sorted; hidden
    names only when the pattern part starts with '.'."""
    import fnmatch  # noqa: PLC0415
    import re  # noqa: PLC0415

    absolute = pattern.startswith("/")
    found = [("/" if absolute else "", "/" if absolute else ctx.cwd)]  # (as written, device path)
    for part in [p for p in pattern.split("/") if p]:
        literal = re.sub(r"\[([*?\[])\]", r"\1", part)
        step = []
        for shown, device in found:
            if not any(c in re.sub(r"\[[*?\[]\]", "", part) for c in "*?["):
                step.append((shown + ("" if shown.endswith("/") or not shown else "/") + literal, device.rstrip("/") + "/" + literal))
                continue
            try:
                folder = ctx.path(device)
                names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
            except OSError:
                names = []
            for name in names:
                if fnmatch.fnmatchcase(name, part) and (not name.startswith(".") or part.startswith(".")):
                    step.append((shown + ("" if shown.endswith("/") or not shown else "/") + name, device.rstrip("/") + "/" + name))
        found = step
    results = []
    for shown, device in found:
        try:
            if ctx.path(device).exists():
                results.append(shown)
        except OSError:
            continue
    return results


def _shown(ctx: Context, filename) -> str:
    """A file name as the device user sees it (host paths turned back into device paths)."""
    text = str(filename)
    try:
        return ctx.fs.device(Path(text)) if Path(text).is_absolute() and str(ctx.fs.root) in text else text
    except ValueError:
        return text


def _apply_output_redirects(ctx: Context, redirects: list[tuple[str, str]]) -> None:
    for op, target in redirects:
        if op == "2>&1":
            ctx.stdout.write(ctx.stderr.getvalue())
            ctx.stderr = io.BytesIO()
        elif op in (">", ">>", "2>", "2>>"):
            stream = ctx.stderr if op.startswith("2") else ctx.stdout
            data = stream.getvalue()
            stream.seek(0)
            stream.truncate()
            if target != "/dev/null":
                with open(ctx.path(target, write=True), "ab" if op.endswith(">>") else "wb") as fh:
                    fh.write(data)


def quote(arg: str) -> str:
    """One argument, quoted for this shell (and any POSIX shell)."""
    if arg and all(c.isalnum() or c in "@%+=:,./-_" for c in arg):
        return arg
    return "'" + arg.replace("'", "'\\''") + "'"
