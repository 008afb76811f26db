"""The virtual handset's file system and shell.

A sandbox folder holds the device's files (device path /a/b -> <root>/a/b; '..' can never leave
it). The shell understands what the device kit and a person at `adb shell` use: POSIX quoting,
`;` `&&` `||` `|`, `>` `>>` `2>` `2>&1` `<` redirects and exit codes, over a table of commands
where adding one is one function. Android's rules that matter to the kit are kept: the shell
user cannot read an app's private data folder, `run-as` only works for installed debuggable
packages and runs in the app's data folder, unknown commands exit 127.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import posixpath
import shutil
import stat as stat_module
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # pragma: no cover
    from packager.device.virtual import VirtualHandset

APP_DATA_ROOTS = ("/data/user/0/", "/data/data/")


class ShellError(Exception):
    """A command failed: message for stderr, exit code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


# --- the sandbox ----------------------------------------------------------------------------------
class Sandbox:
    """Device paths mapped into a host folder, with the private-data rule of Android."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        for folder in ("data/local/tmp", "data/user/0", "data/app", "sdcard", "system/bin"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)

    @staticmethod
    def normalize(path: str, cwd: str = "/") -> str:
        if not path.startswith("/"):
            path = posixpath.join(cwd, path)
        path = posixpath.normpath(path)
        return "/" + path.lstrip("/") if path != "/" else "/"

    def host(self, device_path: str, cwd: str = "/", user: str = "shell") -> Path:
        """Host path of a device path, refusing private app data to other users."""
        path = self.normalize(device_path, cwd)
        for prefix in APP_DATA_ROOTS:
            if path.startswith(prefix) or path + "/" == prefix:
                owner = path[len(prefix):].split("/", 1)[0]
                if owner and user not in ("root", owner):
                    raise ShellError(f"{device_path}: Permission denied", 1)
        host = (self.root / path.lstrip("/")).resolve()
        if host != self.root and self.root not in host.parents:
            raise ShellError(f"{device_path}: Permission denied", 1)
        return host

    def device(self, host: Path) -> str:
        return "/" + host.resolve().relative_to(self.root).as_posix()


# --- parsing ----------------------------------------------------------------------------------------
@dataclass
class Simple:
    argv: list[str]
    redirects: list[tuple[str, str]] = field(default_factory=list)  # (op, target): '>', '>>', '2>', '2>>', '<', '2>&1'


@dataclass
class Pipeline:
    commands: list[Simple]


STATUS_MARK = "\x00?\x00"  # `$?`, replaced with the last exit status when the command runs
OPERATORS = ("&&", "||", "2>&1", "2>>", ">>", "2>", ";", "|", ">", "<", "&")


def tokenize(line: str) -> list[tuple[str, bool]]:
    """(token, is_operator) pairs with POSIX quoting: '...' literal, "..." with \\ escapes, \\x."""
    tokens: list[tuple[str, bool]] = []
    word: list[str] = []
    in_word = False
    i = 0
    while i < len(line):
        c = line[i]
        if c in " \t\n":
            if in_word:
                tokens.append(("".join(word), False))
                word, in_word = [], False
            i += 1
            continue
        if c == "'":
            end = line.find("'", i + 1)
            if end < 0:
                raise ShellError("syntax error: unterminated quoted string", 2)
            word.append(line[i + 1 : end])
            in_word, i = True, end + 1
            continue
        if c == '"':
            i += 1
            while i < len(line) and line[i] != '"':
                if line.startswith("$?", i):
                    word.append(STATUS_MARK)
                    i += 2
                    continue
                if line[i] == "\\" and i + 1 < len(line) and line[i + 1] in '"\\$`':
                    i += 1
                word.append(line[i])
                i += 1
            if i >= len(line):
                raise ShellError("syntax error: unterminated quoted string", 2)
            in_word, i = True, i + 1
            continue
        if line.startswith("$?", i):
            word.append(STATUS_MARK)
            in_word, i = True, i + 2
            continue
        if c == "\\" and i + 1 < len(line):
            word.append(line[i + 1])
            in_word, i = True, i + 2
            continue
        operator = next((op for op in OPERATORS if line.startswith(op, i)), None)
        # '2>' only counts as an operator at the start of a word
        if operator and (not operator.startswith("2") or not in_word):
            if in_word:
                tokens.append(("".join(word), False))
                word, in_word = [], False
            tokens.append((operator, True))
            i += len(operator)
            continue
        word.append(c)
        in_word, i = True, i + 1
    if in_word:
        tokens.append(("".join(word), False))
    return tokens


def parse(line: str) -> list[tuple[str, Pipeline]]:
    """[(connector, pipeline)] where connector is ';', '&&' or '||' (the first is ';')."""
    out: list[tuple[str, Pipeline]] = []
    connector = ";"
    current: list[Simple] = [Simple([])]
    tokens = tokenize(line)
    i = 0
    while i < len(tokens):
        token, is_op = tokens[i]
        if not is_op:
            current[-1].argv.append(token)
        elif token in (";", "&&", "||", "&"):
            if current[-1].argv or len(current) > 1:
                out.append((connector, Pipeline(current)))
            connector = ";" if token == "&" else token
            current = [Simple([])]
        elif token == "|":
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


# --- running ----------------------------------------------------------------------------------------
@dataclass
class Context:
    """One shell invocation: who runs it, where, and where its output goes."""

    handset: "VirtualHandset"
    user: str = "shell"
    cwd: str = "/"
    stdin: bytes = b""
    status: int = 0
    stdout: io.BytesIO = field(default_factory=io.BytesIO)
    stderr: io.BytesIO = field(default_factory=io.BytesIO)

    @property
    def fs(self) -> Sandbox:
        return self.handset.sandbox

    def path(self, device_path: str) -> Path:
        return self.fs.host(device_path, self.cwd, self.user)

    def out(self, text: str | bytes) -> None:
        self.stdout.write(text.encode() if isinstance(text, str) else text)

    def err(self, text: str) -> None:
        self.stderr.write(text.encode())

    def sub(self, **changes) -> "Context":
        values = {"handset": self.handset, "user": self.user, "cwd": self.cwd, "stdin": b""}
        values.update(changes)
        return Context(**values)


Command = Callable[[Context, list[str]], int]
COMMANDS: dict[str, Command] = {}


def command(*names: str):
    def register(fn: Command) -> Command:
        for name in names:
            COMMANDS[name] = fn
        return fn

    return register


def run(ctx: Context, line: str) -> int:
    """Run a command line; output goes to ctx.stdout/ctx.stderr; returns the exit code."""
    try:
        program = parse(line)
    except ShellError as exc:
        ctx.err(f"/system/bin/sh: {exc}\n")
        return exc.code
    status = 0
    for connector, pipeline in program:
        if (connector == "&&" and status != 0) or (connector == "||" and status == 0):
            continue
        status = _run_pipeline(ctx, pipeline)
        ctx.status = status
    return status


def _run_pipeline(ctx: Context, pipeline: Pipeline) -> int:
    data = ctx.stdin
    status = 0
    for index, simple in enumerate(pipeline.commands):
        last = index == len(pipeline.commands) - 1
        sub = ctx.sub(stdin=data, status=ctx.status)
        status = _run_simple(sub, simple)
        ctx.stderr.write(sub.stderr.getvalue())
        if last:
            ctx.stdout.write(sub.stdout.getvalue())
        else:
            data = sub.stdout.getvalue()
    return status


def _run_simple(ctx: Context, simple: Simple) -> int:
    if not simple.argv:
        return 0
    simple = Simple([a.replace(STATUS_MARK, str(ctx.status)) for a in simple.argv], simple.redirects)
    try:
        for op, target in simple.redirects:
            if op == "<":
                ctx.stdin = ctx.path(target).read_bytes()
        name, args = simple.argv[0], simple.argv[1:]
        handler = COMMANDS.get(posixpath.basename(name))
        if handler is None:
            ctx.err(f"/system/bin/sh: {name}: inaccessible or not found\n")
            status = 127
        else:
            try:
                status = handler(ctx, args)
            except ShellError as exc:
                ctx.err(f"{name}: {exc}\n")
                status = exc.code
        for op, target in simple.redirects:
            if op == "2>&1":
                ctx.stdout.write(ctx.stderr.getvalue())
                ctx.stderr = io.BytesIO()
            elif op in (">", ">>", "2>", "2>>"):
                stream = ctx.stderr if op.startswith("2") else ctx.stdout
                data = stream.getvalue()
                stream.seek(0)
                stream.truncate()
                if target != "/dev/null":
                    path = ctx.path(target)
                    with open(path, "ab" if op.endswith(">>") else "wb") as fh:
                        fh.write(data)
        return status
    except ShellError as exc:
        ctx.err(f"/system/bin/sh: {exc}\n")
        return exc.code
    except FileNotFoundError as exc:
        ctx.err(f"/system/bin/sh: {ctx.fs.device(Path(exc.filename)) if exc.filename else ''}: No such file or directory\n")
        return 1


# --- commands ---------------------------------------------------------------------------------------
def _flags(args: list[str], known: str) -> tuple[set[str], list[str]]:
    flags, rest = set(), []
    for arg in args:
        if arg.startswith("-") and len(arg) > 1 and all(c in known for c in arg[1:]):
            flags.update(arg[1:])
        else:
            rest.append(arg)
    return flags, rest


def _missing(ctx: Context, name: str, path: str) -> int:
    ctx.err(f"{name}: {path}: No such file or directory\n")
    return 1


@command("true")
def _true(ctx: Context, args: list[str]) -> int:
    return 0


@command("false")
def _false(ctx: Context, args: list[str]) -> int:
    return 1


@command("echo")
def _echo(ctx: Context, args: list[str]) -> int:
    newline = True
    if args[:1] == ["-n"]:
        newline, args = False, args[1:]
    ctx.out(" ".join(args) + ("\n" if newline else ""))
    return 0


@command("sleep")
def _sleep(ctx: Context, args: list[str]) -> int:
    time.sleep(min(float(args[0]) if args else 0.0, 30.0))
    return 0


@command("id")
def _id(ctx: Context, args: list[str]) -> int:
    uid = {"root": 0, "shell": 2000}.get(ctx.user, 10123)
    ctx.out(f"uid={uid}({ctx.user}) gid={uid}({ctx.user})\n")
    return 0


@command("getprop")
def _getprop(ctx: Context, args: list[str]) -> int:
    props = ctx.handset.props
    if args:
        ctx.out(props.get(args[0], args[1] if len(args) > 1 else "") + "\n")
    else:
        ctx.out("".join(f"[{k}]: [{v}]\n" for k, v in sorted(props.items())))
    return 0


@command("cat")
def _cat(ctx: Context, args: list[str]) -> int:
    if not args:
        ctx.out(ctx.stdin)
        return 0
    status = 0
    for arg in args:
        path = ctx.path(arg)
        if path.is_dir():
            ctx.err(f"cat: {arg}: Is a directory\n")
            status = 1
        elif not path.exists():
            status = _missing(ctx, "cat", arg)
        else:
            ctx.out(path.read_bytes())
    return status


@command("ls")
def _ls(ctx: Context, args: list[str]) -> int:
    flags, paths = _flags(args, "laR1h")
    status = 0
    for arg in paths or ["."]:
        path = ctx.path(arg)
        if not path.exists():
            status = _missing(ctx, "ls", arg)
            continue
        entries = sorted(path.iterdir()) if path.is_dir() else [path]
        for entry in entries:
            if "l" in flags:
                st = entry.stat()
                kind = "d" if entry.is_dir() else "-"
                when = dt.datetime.fromtimestamp(st.st_mtime).strftime("%Y-%m-%d %H:%M")
                ctx.out(f"{kind}rw-rw---- 1 {ctx.user} {ctx.user} {st.st_size:>8} {when} {entry.name}\n")
            else:
                ctx.out(entry.name + "\n")
    return status


@command("mkdir")
def _mkdir(ctx: Context, args: list[str]) -> int:
    flags, paths = _flags(args, "p")
    for arg in paths:
        path = ctx.path(arg)
        if path.exists() and "p" not in flags:
            ctx.err(f"mkdir: '{arg}': File exists\n")
            return 1
        path.mkdir(parents="p" in flags, exist_ok="p" in flags)
    return 0


@command("touch")
def _touch(ctx: Context, args: list[str]) -> int:
    for arg in args:
        ctx.path(arg).touch()
    return 0


@command("rm")
def _rm(ctx: Context, args: list[str]) -> int:
    flags, paths = _flags(args, "rfRv")
    status = 0
    for arg in paths:
        path = ctx.path(arg)
        if path == ctx.fs.root:
            ctx.err("rm: refusing to remove '/'\n")
            return 1
        if path.is_dir():
            if not flags & {"r", "R"}:
                ctx.err(f"rm: {arg}: is a directory\n")
                status = 1
            else:
                shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        elif "f" not in flags:
            status = _missing(ctx, "rm", arg)
    return status


@command("mv")
def _mv(ctx: Context, args: list[str]) -> int:
    _, paths = _flags(args, "f")
    if len(paths) != 2:
        raise ShellError("usage: mv SOURCE DEST")
    source, dest = ctx.path(paths[0]), ctx.path(paths[1])
    if not source.exists():
        return _missing(ctx, "mv", paths[0])
    if dest.is_dir():
        dest = dest / source.name
    os.replace(source, dest)
    return 0


@command("cp")
def _cp(ctx: Context, args: list[str]) -> int:
    flags, paths = _flags(args, "rRfp")
    if len(paths) < 2:
        raise ShellError("usage: cp SOURCE... DEST")
    dest = ctx.path(paths[-1])
    for arg in paths[:-1]:
        source = ctx.path(arg)
        if not source.exists():
            return _missing(ctx, "cp", arg)
        target = dest / source.name if dest.is_dir() else dest
        if source.is_dir():
            if not flags & {"r", "R"}:
                ctx.err(f"cp: {arg}: is a directory\n")
                return 1
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, target)
    return 0


@command("chmod")
def _chmod(ctx: Context, args: list[str]) -> int:
    if len(args) < 2:
        raise ShellError("usage: chmod MODE FILE...")
    for arg in args[1:]:
        if not ctx.path(arg).exists():
            return _missing(ctx, "chmod", arg)
    return 0


@command("stat")
def _stat(ctx: Context, args: list[str]) -> int:
    fmt = None
    if args[:1] == ["-c"] and len(args) >= 2:
        fmt, args = args[1], args[2:]
    for arg in args:
        path = ctx.path(arg)
        if not path.exists():
            return _missing(ctx, "stat", arg)
        st = path.stat()
        if fmt is None:
            ctx.out(f"  File: {arg}\n  Size: {st.st_size}\n")
        else:
            text = fmt.replace("%s", str(st.st_size)).replace("%n", arg).replace("%Y", str(int(st.st_mtime)))
            text = text.replace("%F", "directory" if path.is_dir() else "regular file")
            ctx.out(text + "\n")
    return 0


@command("test", "[")
def _test(ctx: Context, args: list[str]) -> int:
    if args and args[-1] == "]":
        args = args[:-1]
    negate = args[:1] == ["!"]
    if negate:
        args = args[1:]
    if len(args) == 2 and args[0] in ("-f", "-d", "-e", "-s"):
        try:
            path = ctx.path(args[1])
        except ShellError:
            return 1
        result = {"-f": path.is_file(), "-d": path.is_dir(), "-e": path.exists(),
                  "-s": path.is_file() and path.stat().st_size > 0}[args[0]]
    elif len(args) == 3 and args[1] in ("=", "!="):
        result = (args[0] == args[2]) == (args[1] == "=")
    elif len(args) == 1:
        result = bool(args[0])
    else:
        raise ShellError("unsupported test expression", 2)
    return 0 if result != negate else 1


@command("sha256sum")
def _sha256sum(ctx: Context, args: list[str]) -> int:
    status = 0
    for arg in args:
        path = ctx.path(arg)
        if not path.is_file():
            status = _missing(ctx, "sha256sum", arg)
            continue
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        ctx.out(f"{digest.hexdigest()}  {arg}\n")
    return status


@command("df")
def _df(ctx: Context, args: list[str]) -> int:
    usage = shutil.disk_usage(ctx.fs.root)
    ctx.out("Filesystem     1K-blocks    Used Available Use% Mounted on\n")
    ctx.out(f"/dev/block/dm-5 {usage.total // 1024} {usage.used // 1024} {usage.free // 1024} "
            f"{usage.used * 100 // max(usage.total, 1)}% /data\n")
    return 0


@command("sh")
def _sh(ctx: Context, args: list[str]) -> int:
    if args[:1] == ["-c"] and len(args) >= 2:
        return run(ctx, args[1])
    if not args:
        return run(ctx, ctx.stdin.decode("utf-8", "replace"))
    raise ShellError("only 'sh -c COMMAND' is supported", 2)


@command("wc")
def _wc(ctx: Context, args: list[str]) -> int:
    data = ctx.stdin if not args or args[-1].startswith("-") else ctx.path(args[-1]).read_bytes()
    count = data.count(b"\n") if "-l" in args else len(data)
    ctx.out(f"{count}\n")
    return 0


@command("pidof")
def _pidof(ctx: Context, args: list[str]) -> int:
    pids = [str(p) for name in args if (p := ctx.handset.app_pid(name))]
    if pids:
        ctx.out(" ".join(pids) + "\n")
        return 0
    return 1


@command("logcat")
def _logcat(ctx: Context, args: list[str]) -> int:
    log = ctx.handset.logcat
    if "-c" in args:
        log.clear()
        return 0
    tail = None
    tags: set[str] = set()
    i = 0
    while i < len(args):
        if args[i] == "-t" and i + 1 < len(args):
            tail = int(args[i + 1])
            i += 1
        elif args[i] == "-s" and i + 1 < len(args):
            i += 1
            while i < len(args) and not args[i].startswith("-"):
                tags.add(args[i].split(":")[0])
                i += 1
            continue
        elif ":" in args[i] and not args[i].startswith("-") and args[i] != "*:S":
            tags.add(args[i].split(":")[0])
        i += 1
    lines = log.lines(tags or None)
    if tail is not None:
        lines = lines[-tail:]
    ctx.out("".join(line + "\n" for line in lines))
    return 0


@command("pm")
def _pm(ctx: Context, args: list[str]) -> int:
    return ctx.handset.package_manager(ctx, args)


@command("cmd")
def _cmd(ctx: Context, args: list[str]) -> int:
    if args[:1] == ["package"]:
        return ctx.handset.package_manager(ctx, args[1:])
    if args[:1] == ["activity"]:
        return ctx.handset.activity_manager(ctx, args[1:])
    ctx.err(f"cmd: Can't find service: {args[0] if args else ''}\n")
    return 20


@command("am")
def _am(ctx: Context, args: list[str]) -> int:
    return ctx.handset.activity_manager(ctx, args)


@command("run-as")
def _run_as(ctx: Context, args: list[str]) -> int:
    if not args:
        ctx.err("usage: run-as <package-name> [--user <uid>] <command> [<args>]\n")
        return 1
    package, rest = args[0], args[1:]
    if rest[:1] == ["--user"]:
        rest = rest[2:]
    app = ctx.handset.packages.get(package)
    if app is None:
        ctx.err(f"run-as: unknown package: {package}\n")
        return 1
    if not app.debuggable:
        ctx.err(f"run-as: package not debuggable: {package}\n")
        return 1
    data_dir = f"/data/user/0/{package}"
    ctx.fs.host(data_dir, user="root").mkdir(parents=True, exist_ok=True)
    sub = ctx.sub(user=package, cwd=data_dir, stdin=ctx.stdin)
    line = " ".join(_quote(a) for a in rest) if rest else "sh"
    status = run(sub, line)
    ctx.stdout.write(sub.stdout.getvalue())
    ctx.stderr.write(sub.stderr.getvalue())
    return status


@command("dumpsys")
def _dumpsys(ctx: Context, args: list[str]) -> int:
    if args[:1] == ["meminfo"] and len(args) > 1:
        kb = ctx.handset.app_memory_kb(args[1])
        if kb is None:
            ctx.out(f"No process found for: {args[1]}\n")
            return 0
        ctx.out(f"Applications Memory Usage (in Kilobytes):\n** MEMINFO in pid {ctx.handset.app_pid(args[1])} [{args[1]}] **\n")
        ctx.out(f"           TOTAL RSS:   {kb}\n")
        return 0
    ctx.out("")
    return 0


def _quote(arg: str) -> str:
    if arg and all(c.isalnum() or c in "@%+=:,./-_" for c in arg):
        return arg
    return "'" + arg.replace("'", "'\\''") + "'"


def file_mode(path: Path) -> int:
    st = path.stat()
    return st.st_mode if path.is_dir() else (stat_module.S_IFREG | 0o644)
