"""Run the ```sh blocks of a Markdown document the way a reader would paste them.

The contract (docs/operations.md and docs/carts/*.md follow it):
- every fenced ```sh block runs, in document order, in one `bash` process with
  `set -euo pipefail`, from the repository root, with the virtualenv's `bin` first on PATH (as
  after `source .venv/bin/activate`) and a fresh PRESSRUN_DATA_DIR;
- a block that must not run is fenced ```text / ```console, or preceded on the line before the
  fence by `<!-- docs-test: skip — <reason> -->`;
- the caller substitutes addresses (`substitute`), nothing else is changed.

`run_blocks` always stops what the blocks started (their process group, and any process that
inherited the run's marker variable, should one have left the group) and its temporary
directory is the caller's to remove (`scratch_dir`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# Set in the environment of every block run: finds the run's processes even if one of them
# left the process group (setsid).
MARKER_VARIABLE = "PRESSRUN_DOCS_TEST_RUN"
STOP_GRACE_SECONDS = 5.0
OUTPUT_TAIL_LINES = 120

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_SKIP = re.compile(r"^\s*<!--\s*docs-test:\s*skip\b(?P<rest>.*?)-->\s*$")
# The reason follows an em dash (as the contract writes it), an en dash, a hyphen or a colon.
_SKIP_REASON = re.compile(r"^\s*[\u2014\u2013:-]+\s*(?P<reason>\S.*?)\s*$")


class DocFormatError(ValueError):
    """The document breaks the contract (an unclosed fence, a skip marker without a reason)."""


@dataclass(frozen=True)
class ShellBlock:
    doc: Path
    line: int  # 1-based line of the opening fence
    code: str

    @property
    def where(self) -> str:
        try:
            name = self.doc.relative_to(ROOT)
        except ValueError:
            name = self.doc
        return f"{name}:{self.line}"


def sh_blocks(doc: Path) -> list[ShellBlock]:
    """The document's ```sh blocks that are to run, in order (indented fences of list items
    included, their indentation removed)."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    blocks: list[ShellBlock] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        language = opening["info"].strip().split(" ")[0] if opening["info"].strip() else ""
        end = index + 1
        while end < len(lines):
            closing = _FENCE.match(lines[end])
            if (
                closing is not None
                and closing["fence"].startswith(fence[0])
                and len(closing["fence"]) >= len(fence)
                and not closing["info"].strip()
            ):
                break
            end += 1
        if end == len(lines):
            raise DocFormatError(f"{doc}:{index + 1}: the fence opened here is never closed")
        skip = _SKIP.match(lines[index - 1]) if index > 0 else None
        if skip is not None and not _SKIP_REASON.match(skip["rest"]):
            raise DocFormatError(
                f"{doc}:{index}: a docs-test skip marker needs a reason "
                "(`<!-- docs-test: skip — why -->`)"
            )
        if language == "sh" and skip is None:
            body = [_dedent(line, indent) for line in lines[index + 1 : end]]
            blocks.append(ShellBlock(doc=doc, line=index + 1, code="\n".join(body) + "\n"))
        index = end + 1
    return blocks


def _dedent(line: str, indent: str) -> str:
    return line[len(indent) :] if line.startswith(indent) else line.lstrip(" \t")


def block_environment(data_dir: Path, temp_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    """A reader's shell after `source .venv/bin/activate` in a fresh clone: none of the test
    run's own pressrun settings, the virtualenv first on PATH, a fresh data dir. `mktemp` in a
    block lands in `temp_dir`, so nothing a block makes outlives the run."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PRESSRUN_") and key not in ("DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV")
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV_BIN.parent)
    env["PRESSRUN_DATA_DIR"] = str(data_dir)
    env["TMPDIR"] = str(temp_dir)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass(frozen=True)
class BlocksRun:
    """What running a document's blocks did."""

    blocks: tuple[ShellBlock, ...]
    codes: tuple[str, ...]  # each block as it ran (after substitution)
    exit_code: int | None  # None: killed at the timeout
    timeout: float
    output: str
    last_started: int  # index of the last block that started; len(blocks) when all finished

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.last_started == len(self.blocks)

    def failure(self) -> str:
        """The failed block, its output and its exit code, for a test failure message."""
        index = min(self.last_started, len(self.blocks) - 1)
        block = self.blocks[index]
        if self.exit_code is None:
            how = f"did not finish within {self.timeout:.0f} s (killed)"
        elif self.last_started == len(self.blocks):
            how = f"ended with exit code {self.exit_code} after the last block"
        else:
            how = f"failed with exit code {self.exit_code}"
        lines = self.output.splitlines()
        shown = lines[-OUTPUT_TAIL_LINES:]
        cut = f"(last {len(shown)} of {len(lines)} lines)\n" if len(lines) > len(shown) else ""
        return (
            f"the ```sh block at {block.where} (block {index + 1} of {len(self.blocks)}) {how}\n"
            f"--- the block as it ran ---\n{self.codes[index].rstrip()}\n"
            f"--- output of the document's blocks {cut}---\n" + "\n".join(shown)
        )


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory that is removed afterwards, whatever happens."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_blocks(
    blocks: list[ShellBlock],
    *,
    env: dict[str, str],
    work_dir: Path,
    timeout: float,
    substitute: Callable[[str], str] = lambda code: code,
) -> BlocksRun:
    """Run `blocks` in order in one `bash` (set -euo pipefail) from the repository root.

    Everything the blocks started is stopped before this returns, when they finished, failed
    or ran past `timeout` seconds alike. Output goes to a file, so a server left running in
    the background cannot hold the run open.
    """
    codes = tuple(substitute(block.code) for block in blocks)
    progress = work_dir / "docs-test-progress"
    script = ["set -euo pipefail"]
    for index, code in enumerate(codes):
        script.append(f"echo {index} > {_quote(progress)}")
        script.append(code)
    script.append(f"echo {len(codes)} > {_quote(progress)}")
    script_path = work_dir / "docs-test-blocks.sh"
    script_path.write_text("\n".join(script) + "\n", encoding="utf-8")
    output_path = work_dir / "docs-test-output.txt"
    marker = uuid.uuid4().hex
    run_env = dict(env, **{MARKER_VARIABLE: marker})

    exit_code: int | None
    with output_path.open("wb") as output:
        process = subprocess.Popen(
            ["bash", str(script_path)],
            cwd=ROOT,
            env=run_env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            exit_code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            exit_code = None
        finally:
            stop_all(process, marker)
    try:
        last_started = int(progress.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        last_started = 0
    return BlocksRun(
        blocks=tuple(blocks),
        codes=codes,
        exit_code=exit_code,
        timeout=timeout,
        output=output_path.read_text(encoding="utf-8", errors="replace"),
        last_started=last_started,
    )


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"


def stop_all(process: subprocess.Popen[bytes], marker: str) -> None:
    """Stop `process`, its process group and every process carrying the run's marker:
    SIGTERM, then SIGKILL for whatever is left after a grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        _signal_group(process.pid, sig)
        for pid in marked_processes(marker):
            _signal_pid(pid, sig)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while time.monotonic() < deadline:
            finished = process.poll() is not None and not _group_alive(process.pid)
            if finished and not marked_processes(marker):
                return
            time.sleep(0.1)
    process.wait(timeout=STOP_GRACE_SECONDS)


def marked_processes(marker: str) -> list[int]:
    """Processes (other than zombies) whose environment carries this run's marker."""
    needle = f"{MARKER_VARIABLE}={marker}".encode()
    found = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _signal_pid(pid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
