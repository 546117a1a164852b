"""Commands sent over HTTP run in worker threads, a bounded number at once
(one store writer at a time on SQLite; more on PostgreSQL), never on the
event loop, and leave the rest of the thread pool to reads."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import anyio
import pytest

from aftersales_es.app.tokens import Tokens
from aftersales_es.cli.main import main
from aftersales_es.engine import AfterSales
from aftersales_es.http.app import create_app
from aftersales_es.http.service import COMMAND_THREADS, Service


def service(path: Path, threads: int = 0) -> Service:
    app = AfterSales(path)
    return Service(app, Tokens(app.sql), command_threads=threads)


def test_sqlite_store_runs_two_commands_at_once_by_default(tmp_path: Path) -> None:
    # given / when: the service on a SQLite file, no count given
    svc = service(tmp_path / "s.db")
    # then
    assert svc.command_threads == COMMAND_THREADS["sqlite"] == 2


def test_writes_never_exceed_the_command_threads_and_leave_the_loop_free(
    tmp_path: Path,
) -> None:
    # given: one command thread, and writes that take 50 ms each
    svc = service(tmp_path / "s.db", threads=1)
    running, peak, threads = [0], [0], set()
    lock = threading.Lock()

    def write(n: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            threads.add(threading.get_ident())
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return n

    async def main() -> tuple[list[int], int]:
        done: list[int] = []
        ticks = 0

        async def one(n: int) -> None:
            done.append(await svc.run_write(write, n))

        async def loop_ticks() -> None:
            nonlocal ticks
            while len(done) < 4:
                ticks += 1
                await anyio.sleep(0.005)

        async with anyio.create_task_group() as tg:
            tg.start_soon(loop_ticks)
            for n in range(4):
                tg.start_soon(one, n)
        return sorted(done), ticks

    # when: four are sent together
    done, ticks = anyio.run(main)
    # then: all ran, one at a time, off the event loop, which kept running
    assert done == [0, 1, 2, 3]
    assert peak[0] == 1
    assert threading.get_ident() not in threads
    assert ticks >= 10


def test_serve_command_threads_reach_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: AFTERSALES_COMMAND_THREADS as `serve --command-threads 3` sets it
    monkeypatch.setenv("AFTERSALES_COMMAND_THREADS", "3")
    # when
    asgi = create_app(tmp_path / "s.db")
    # then: the service runs three commands at once
    assert asgi.app.state.service.command_threads == 3


def test_serve_refuses_zero_command_threads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # when
    with pytest.raises(SystemExit) as stop:
        main(["--store", str(tmp_path / "s.db"), "serve", "--command-threads", "0"])
    # then: a usage error naming the option, nothing served
    assert stop.value.code == 2
    assert "--command-threads" in capsys.readouterr().err
