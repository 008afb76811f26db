"""The commands of the virtual handset's shell: one function each, registered in COMMANDS.

Messages and exit codes follow Android's toybox and mksh where a harness might look at them.
Android services (pm, am, run-as, logcat, dumpsys, getprop) ask the handset.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import re
import shutil
import stat as stat_module
import time
from typing import TYPE_CHECKING

from packager.device.virtual.fs import file_mode, set_mode
from packager.device.virtual.shell import Command, Context, ExitShell, ShellError, quote, run

# the command table, handed to the shell by the handset (VirtualHandset.commands)
COMMANDS: dict[str, Command] = {}


def command(*names: str):
    def register(fn: Command) -> Command:
        for name in names:
            COMMANDS[name] = fn
        return fn

    return register


if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

def _flags(args: list[str], known: str) -> tuple[set[str], list[str]]:
    flags: set[str] = set()
    rest: list[str] = []
    for arg in args:
        if arg.startswith("-") and len(arg) > 1 and all(c in known for c in arg[1:]):
            flags.update(arg[1:])
        else:
            rest.append(arg)
    return flags, rest


def _missing(ctx: Context, name: str, path: str) -> int:
    ctx.err(f"{name}: {path}: No such file or directory\n")
    return 1


# --- the shell's own --------------------------------------------------------------------------
@command("true")
def _true(ctx: Context, args: list[str]) -> int:
    return 0


@command("false")
def _false(ctx: Context, args: list[str]) -> int:
    return 1


@command("exit")
def _exit(ctx: Context, args: list[str]) -> int:
    raise ExitShell(int(args[0]) & 0xFF if args and args[0].lstrip("-").isdigit() else ctx.status)


@command("cd")
def _cd(ctx: Context, args: list[str]) -> int:
    target = args[0] if args else ctx.home
    if not ctx.path(target).is_dir():
        raise ShellError(f"{target}: No such file or directory", 2)
    ctx.cwd = ctx.device_path(target)
    return 0


@command("pwd")
def _pwd(ctx: Context, args: list[str]) -> int:
    ctx.out(ctx.cwd + "\n")
    return 0


@command("echo")
def _echo(ctx: Context, args: list[str]) -> int:
    newline = True
    if args[:1] == ["-n"]:
        newline, args = False, args[1:]
    ctx.out(" ".join(args) + ("\n" if newline else ""))
    return 0


@command("sh")
def _sh(ctx: Context, args: list[str]) -> int:
    if args[:1] == ["-c"] and len(args) >= 2:
        return run(ctx, args[1])
    if not args:
        return run(ctx, ctx.read_stdin().decode("utf-8", "replace"))
    return run(ctx, ctx.path(args[0]).read_text("utf-8", "replace"))


@command("sleep")
def _sleep(ctx: Context, args: list[str]) -> int:
    deadline = time.monotonic() + min(float(args[0]) if args else 0.0, 300.0)
    while (left := deadline - time.monotonic()) > 0:  # stop() or the connection's end wakes it
        if ctx.handset.stopping.wait(min(left, 0.1)) or (ctx.ended is not None and ctx.ended.is_set()):
            break
    return 0


# --- identity and properties ------------------------------------------------------------------
def _uid(ctx: Context) -> int:
    if ctx.user in ("root", "shell"):
        return {"root": 0, "shell": 2000}[ctx.user]
    return ctx.handset.packages.uid(ctx.user)


@command("id")
def _id(ctx: Context, args: list[str]) -> int:
    uid = _uid(ctx)
    name = ctx.user if ctx.user in ("root", "shell") else f"u0_a{uid - 10000}"
    ctx.out(f"uid={uid}({name}) gid={uid}({name}) groups={uid}({name}) context=u:r:{'runas_app' if uid >= 10000 else ctx.user}:s0\n")
    return 0


@command("whoami")
def _whoami(ctx: Context, args: list[str]) -> int:
    uid = _uid(ctx)
    ctx.out((ctx.user if uid < 10000 else f"u0_a{uid - 10000}") + "\n")
    return 0


@command("getprop")
def _getprop(ctx: Context, args: list[str]) -> int:
    props = ctx.handset.props
    if args:
        ctx.out(props.get(args[0], args[1] if len(args) > 1 else "") + "\n")
    else:
        ctx.out("".join(f"[{k}]: [{v}]\n" for k, v in sorted(props.items())))
    return 0


@command("uname")
def _uname(ctx: Context, args: list[str]) -> int:
    flags, _ = _flags(args, "asnrvm")
    abi = ctx.handset.props.get("ro.product.cpu.abi", "arm64-v8a")
    machine = {"arm64-v8a": "aarch64", "armeabi-v7a": "armv8l", "x86_64": "x86_64", "x86": "i686"}.get(abi, abi)
    parts = {"s": "Linux", "n": "localhost", "r": "6.1.25-android14-virtual", "v": "#1 SMP PREEMPT", "m": machine}
    wanted = "snrvm" if "a" in flags else ("".join(f for f in "snrvm" if f in flags) or "s")
    ctx.out(" ".join(parts[f] for f in wanted) + "\n")
    return 0


# --- files ----------------------------------------------------------------------------------------
@command("cat")
def _cat(ctx: Context, args: list[str]) -> int:
    if not args or args == ["-"]:
        ctx.out(ctx.read_stdin())
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


def _long_entry(ctx: Context, path: Path, name: str) -> str:
    st = path.stat()
    owner = ctx.fs.device(path)
    user = "root" if not owner.startswith(("/data/local/tmp", "/sdcard", "/data/user/0/")) else ("shell" if not owner.startswith("/data/user/0/") else ctx.user)
    when = dt.datetime.fromtimestamp(st.st_mtime).strftime("%Y-%m-%d %H:%M")
    return f"{stat_module.filemode(file_mode(path))} 1 {user} {user} {st.st_size:>8} {when} {name}\n"


@command("ls")
def _ls(ctx: Context, args: list[str]) -> int:
    flags, paths = _flags(args, "laR1hdtrsn")
    status = 0
    for arg in paths or ["."]:
        path = ctx.path(arg)
        if not path.exists():
            status = _missing(ctx, "ls", arg)
            continue
        if path.is_dir() and "d" not in flags:
            if len(paths) > 1:
                ctx.out(f"{arg}:\n")
            entries = [(p, p.name) for p in sorted(path.iterdir())]
            if "a" in flags:
                entries = [(path, "."), (path.parent, ".."), *entries]
        else:
            entries = [(path, arg)]
        for entry, name in entries:
            ctx.out(_long_entry(ctx, entry, name) if "l" in flags else name + "\n")
    return status


@command("mkdir")
def _mkdir(ctx: Context, args: list[str]) -> int:
    flags, paths = _flags(args, "pv")
    for arg in paths:
        path = ctx.path(arg)
        if path.exists():
            if "p" not in flags:
                ctx.err(f"mkdir: '{arg}': File exists\n")
                return 1
            continue
        path = ctx.path(arg, write=True)
        if not path.parent.is_dir() and "p" not in flags:
            ctx.err(f"mkdir: '{arg}': No such file or directory\n")
            return 1
        path.mkdir(parents=True, exist_ok=True)
    return 0


@command("touch")
def _touch(ctx: Context, args: list[str]) -> int:
    for arg in args:
        ctx.path(arg, write=True).touch()
    return 0


@command("rm")
def _rm(ctx: Context, args: list[str]) -> int:
    flags, paths = _flags(args, "rfRv")
    status = 0
    for arg in paths:
        path = ctx.path(arg, write=True)
        if path == ctx.fs.root:
            ctx.err("rm: refusing to remove '/'\n")
            return 1
        if path.is_dir() and not path.is_symlink():
            if not flags & {"r", "R"}:
                ctx.err(f"rm: {arg}: is a directory\n")
                status = 1
            else:
                shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        elif "f" not in flags:
            status = _missing(ctx, "rm", arg)
    return status


def _destination(ctx: Context, dest: str, name: str) -> Path:
    """Where cp/mv put `name`: inside `dest` when it is a folder (writing into it), else `dest`."""
    if ctx.path(dest).is_dir():
        return ctx.path(f"{ctx.device_path(dest)}/{name}", write=True)
    return ctx.path(dest, write=True)


@command("mv")
def _mv(ctx: Context, args: list[str]) -> int:
    _, paths = _flags(args, "fnv")
    if len(paths) != 2:
        raise ShellError("usage: mv SOURCE DEST")
    source = ctx.path(paths[0], write=True)
    if not source.exists():
        return _missing(ctx, "mv", paths[0])
    os.replace(source, _destination(ctx, paths[1], source.name))
    return 0


@command("cp")
def _cp(ctx: Context, args: list[str]) -> int:
    flags, paths = _flags(args, "rRfpa")
    if len(paths) < 2:
        raise ShellError("usage: cp SOURCE... DEST")
    for arg in paths[:-1]:
        source = ctx.path(arg)
        if not source.exists():
            return _missing(ctx, "cp", arg)
        target = _destination(ctx, paths[-1], source.name)
        if source.is_dir():
            if not flags & {"r", "R", "a"}:
                ctx.err(f"cp: {arg}: Is a directory\n")  # toybox: needs -r
                return 1
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, target)
            if flags & {"p", "a"}:
                shutil.copystat(source, target)
    return 0


_SYMBOLIC_MODE = re.compile(r"([ugoa]*)([-+=])([rwx]*)")


def _parse_mode(spec: str, current: int) -> int:
    if re.fullmatch(r"[0-7]{1,4}", spec):
        return int(spec, 8)
    mode = current
    for clause in spec.split(","):
        match = _SYMBOLIC_MODE.fullmatch(clause)
        if not match:
            raise ShellError(f"bad mode '{spec}'")
        who, op, perms = match.groups()
        who = who or "a"
        bits = 0
        for w in ("ugo" if "a" in who else who):
            shift = {"u": 6, "g": 3, "o": 0}[w]
            bits |= sum({"r": 4, "w": 2, "x": 1}[p] for p in set(perms)) << shift
        mode = (mode | bits) if op == "+" else (mode & ~bits) if op == "-" else ((mode & ~(0o777 if "a" in who else 0)) | bits)
    return mode


@command("chmod")
def _chmod(ctx: Context, args: list[str]) -> int:
    _, args = _flags(args, "Rfv")
    if len(args) < 2:
        raise ShellError("usage: chmod MODE FILE...")
    for arg in args[1:]:
        path = ctx.path(arg, write=True)
        if not path.exists():
            return _missing(ctx, "chmod", arg)
        set_mode(path, _parse_mode(args[0], stat_module.S_IMODE(path.stat().st_mode)))
    return 0


def _stat_field(fields: dict[str, str], m: re.Match[str]) -> str:
    """stat -c's %X: the field X, or the text as it was for a letter stat does not know."""
    return fields.get(m.group(1), m.group(0))


@command("stat")
def _stat(ctx: Context, args: list[str]) -> int:
    fmt = None
    if args[:1] == ["-c"] and len(args) >= 2:
        fmt, args = args[1], args[2:]
    status = 0
    for arg in args:
        path = ctx.path(arg)
        if not path.exists():
            ctx.err(f"stat: '{arg}': No such file or directory\n")
            status = 1
            continue
        st = path.stat()
        mode = file_mode(path)
        kind = "directory" if path.is_dir() else ("regular empty file" if st.st_size == 0 else "regular file")
        if fmt is None:
            ctx.out(f"  File: {arg}\n  Size: {st.st_size}\t Blocks: {st.st_blocks}\t IO Blocks: 4096\t{kind}\n"
                    f"Access: (0{stat_module.S_IMODE(mode):o}/{stat_module.filemode(mode)})\n")
            continue
        fields: dict[str, str] = {"s": str(st.st_size), "n": arg, "Y": str(int(st.st_mtime)), "F": kind, "a": f"{stat_module.S_IMODE(mode):o}",
                  "A": stat_module.filemode(mode), "%": "%"}
        ctx.out(re.sub(r"%(.)", functools.partial(_stat_field, fields), fmt) + "\n")
    return status


@command("test", "[")
def _test(ctx: Context, args: list[str]) -> int:
    if args and args[-1] == "]":
        args = args[:-1]
    negate = args[:1] == ["!"]
    if negate:
        args = args[1:]
    if len(args) == 2 and args[0] in ("-f", "-d", "-e", "-s", "-r", "-w", "-x"):
        try:
            path = ctx.path(args[1])
        except PermissionError:
            return 1 if not negate else 0
        checks = {"-f": path.is_file, "-d": path.is_dir, "-e": path.exists, "-r": path.exists,
                  "-s": lambda: path.is_file() and path.stat().st_size > 0,
                  "-w": lambda: path.exists() and ctx.fs.may_write(ctx.fs.device(path), ctx.user),
                  "-x": lambda: path.exists() and bool(file_mode(path) & 0o111)}
        result = checks[args[0]]()
    elif len(args) == 2 and args[0] in ("-n", "-z"):
        result = bool(args[1]) == (args[0] == "-n")
    elif len(args) == 3 and args[1] in ("=", "!=", "==", "-eq", "-ne", "-lt", "-gt", "-le", "-ge"):
        a, op, b = args
        if op in ("=", "==", "!="):
            result = (a == b) == (op != "!=")
        else:
            x, y = int(a), int(b)
            result = {"-eq": x == y, "-ne": x != y, "-lt": x < y, "-gt": x > y, "-le": x <= y, "-ge": x >= y}[op]
    elif len(args) == 1:
        result = bool(args[0])
    elif not args:
        result = False
    else:
        raise ShellError("unsupported test expression", 2)
    return 0 if result != negate else 1


def _digest(name: str):
    def digest_command(ctx: Context, args: list[str]) -> int:
        status = 0
        for arg in args:
            path = ctx.path(arg)
            if not path.is_file():
                status = _missing(ctx, name, arg)
                continue
            digest = hashlib.new(name.removesuffix("sum"))
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            ctx.out(f"{digest.hexdigest()}  {arg}\n")
        if not args:
            ctx.out(f"{hashlib.new(name.removesuffix('sum'), ctx.read_stdin()).hexdigest()}  -\n")
        return status

    return digest_command


for _name in ("sha256sum", "sha1sum", "md5sum"):
    COMMANDS[_name] = _digest(_name)


@command("df")
def _df(ctx: Context, args: list[str]) -> int:
    usage = shutil.disk_usage(ctx.fs.root)
    ctx.out("Filesystem      1K-blocks     Used Available Use% Mounted on\n")
    ctx.out(f"/dev/block/dm-5 {usage.total // 1024} {usage.used // 1024} {usage.free // 1024} "
            f"{usage.used * 100 // max(usage.total, 1)}% /data\n")
    return 0


# --- text -----------------------------------------------------------------------------------------
def _input_of(ctx: Context, files: list[str]) -> bytes:
    return b"".join(ctx.path(f).read_bytes() for f in files) if files else ctx.read_stdin()


@command("wc")
def _wc(ctx: Context, args: list[str]) -> int:
    flags, files = _flags(args, "lcw")
    data = _input_of(ctx, files)
    counts = {"l": data.count(b"\n"), "w": len(data.split()), "c": len(data)}
    ctx.out(" ".join(str(counts[f]) for f in "lwc" if f in (flags or set("lwc"))) + "\n")
    return 0


@command("grep")
def _grep(ctx: Context, args: list[str]) -> int:
    flags, rest = _flags(args, "qvicFEn")
    if not rest:
        raise ShellError("usage: grep [-qvicFEn] PATTERN [FILE...]", 2)
    pattern = re.escape(rest[0]) if "F" in flags else rest[0]
    regex = re.compile(pattern, re.IGNORECASE if "i" in flags else 0)
    lines = _input_of(ctx, rest[1:]).decode("utf-8", "replace").splitlines()
    hits = [(n, line) for n, line in enumerate(lines, 1) if bool(regex.search(line)) != ("v" in flags)]
    if "c" in flags:
        ctx.out(f"{len(hits)}\n")
    elif "q" not in flags:
        ctx.out("".join((f"{n}:" if "n" in flags else "") + line + "\n" for n, line in hits))
    return 0 if hits else 1


def _count_arg(args: list[str]) -> tuple[int, list[str]]:
    count, rest, i = 10, [], 0
    while i < len(args):
        if args[i] == "-n" and i + 1 < len(args):
            count, i = int(args[i + 1]), i + 2
            continue
        if re.fullmatch(r"-\d+", args[i]):
            count = int(args[i][1:])
        else:
            rest.append(args[i])
        i += 1
    return count, rest


@command("head")
def _head(ctx: Context, args: list[str]) -> int:
    count, files = _count_arg(args)
    ctx.out(b"".join(_input_of(ctx, files).splitlines(keepends=True)[:count]))
    return 0


@command("tail")
def _tail(ctx: Context, args: list[str]) -> int:
    if args[:1] == ["-c"] and len(args) >= 2:  # the last N bytes (toybox): the kit reads an APK's zip directory
        data = _input_of(ctx, args[2:])
        ctx.out(data[-int(args[1]):] if int(args[1]) else b"")
        return 0
    count, files = _count_arg(args)
    lines = _input_of(ctx, files).splitlines(keepends=True)
    ctx.out(b"".join(lines[-count:] if count else []))
    return 0


# --- Android services -----------------------------------------------------------------------------
@command("pm")
def _pm(ctx: Context, args: list[str]) -> int:
    return ctx.handset.packages.shell(ctx, args)


@command("am")
def _am(ctx: Context, args: list[str]) -> int:
    return ctx.handset.activities.shell(ctx, args)


@command("cmd")
def _cmd(ctx: Context, args: list[str]) -> int:
    services = {"package": ctx.handset.packages.shell, "activity": ctx.handset.activities.shell}
    if args[:1] and args[0] in services:
        return services[args[0]](ctx, args[1:])
    ctx.err(f"cmd: Can't find service: {args[0] if args else ''}\n")
    return 20


@command("pidof")
def _pidof(ctx: Context, args: list[str]) -> int:
    pids = [str(p) for name in args if (p := ctx.handset.activities.pid(name))]
    if pids:
        ctx.out(" ".join(pids) + "\n")
        return 0
    return 1


@command("logcat")
def _logcat(ctx: Context, args: list[str]) -> int:
    """`logcat -d [-t N] [-s TAG...] [TAG:LEVEL...]`, `logcat -c`. Without -d a phone streams
    forever; here it prints what there is and returns, which is what -d callers want anyway."""
    log = ctx.handset.logcat
    if "-c" in args:
        log.clear()
        return 0
    tail, tags, silent_rest, i = None, set(), False, 0
    while i < len(args):
        arg = args[i]
        if arg in ("-t", "-T") and i + 1 < len(args):
            tail, i = int(args[i + 1]), i + 2
            continue
        if arg in ("-v", "-b", "-e") and i + 1 < len(args):
            i += 2
            continue
        if arg == "-s":
            silent_rest = True
        elif ":" in arg and not arg.startswith("-"):
            tag = arg.split(":")[0]
            if tag == "*" and arg.endswith(":S"):
                silent_rest = True
            elif tag != "*":
                tags.add(tag)
        elif silent_rest and not arg.startswith("-"):
            tags.add(arg)
        i += 1
    lines = log.lines(tags if silent_rest or tags else None)
    if tail is not None:
        lines = lines[-tail:] if tail else []
    ctx.out("".join(line + "\n" for line in lines))
    return 0


@command("run-as")
def _run_as(ctx: Context, args: list[str]) -> int:
    """`run-as <package> [--user N] <command...>`: as the app's user, in its data folder."""
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
    data_dir = ctx.handset.packages.data_dir(package)
    sub = ctx.sub(user=package, cwd=data_dir, home=data_dir, stdin=ctx.stdin)
    status = run(sub, " ".join(quote(a) for a in rest) if rest else "sh")
    ctx.stdout.write(sub.stdout.getvalue())
    ctx.stderr.write(sub.stderr.getvalue())
    return status


@command("dumpsys")
def _dumpsys(ctx: Context, args: list[str]) -> int:
    if args[:1] == ["meminfo"] and len(args) > 1:
        package = args[-1]
        pid, memory = ctx.handset.activities.pid(package), ctx.handset.activities.memory_kb(package)
        if pid is None or memory is None:
            ctx.out(f"No process found for: {package}\n")
            return 0
        rss, hwm = memory
        ctx.out(f"Applications Memory Usage (in Kilobytes):\nUptime: {int(ctx.handset.uptime_s() * 1000)} Realtime: "
                f"{int(ctx.handset.uptime_s() * 1000)}\n\n** MEMINFO in pid {pid} [{package}] **\n"
                f"           TOTAL RSS:   {rss}       TOTAL PSS:   {rss}       TOTAL SWAP PSS:   0\n"
                f"     Peak RSS (VmHWM):   {hwm}\n")
        return 0
    ctx.err(f"Can't find service: {args[0] if args else ''}\n" if args else "")
    return 0 if not args else 1
