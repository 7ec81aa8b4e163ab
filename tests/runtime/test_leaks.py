"""The leak check names each leaked task and counts only what the checked block created."""

from __future__ import annotations

import anyio
import anyio.abc
import pytest

from gorums_h2.testing import (
    LeakError,
    assert_no_leaks,
    leaked_tasks,
    task_baseline,
    task_count,
)

pytestmark = pytest.mark.anyio


async def _lingering(release: anyio.Event) -> None:
    await release.wait()


async def test_a_leaked_task_is_named() -> None:
    release = anyio.Event()
    async with anyio.create_task_group() as tg:
        baseline = task_baseline()
        tg.start_soon(_lingering, release, name="lingering worker")
        with pytest.raises(LeakError) as info:
            await assert_no_leaks(baseline, settle=0.05)
        release.set()
    text = str(info.value)
    assert text.startswith("1 task(s) still running:\n  - 'lingering worker'"), text
    assert "running _lingering (tests/runtime/test_leaks.py:" in text
    assert "waiting at " in text and "started by task " in text


async def _spawner(ask: anyio.Event, spawned: anyio.Event, release: anyio.Event, *,
                   task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
    async with anyio.create_task_group() as tg:
        task_status.started()
        await ask.wait()
        tg.start_soon(_lingering, release, name="spawned by a server")
        spawned.set()
        await release.wait()


async def test_only_tasks_the_block_created_count() -> None:
    ask, spawned, release = anyio.Event(), anyio.Event(), anyio.Event()
    async with anyio.create_task_group() as tg:
        # running before the block: a lingering task and a "server" that
        # starts a task of its own while the block runs
        tg.start_soon(_lingering, release, name="already running")
        await tg.start(_spawner, ask, spawned, release)
        before = task_count()
        baseline = task_baseline()
        ask.set()
        await spawned.wait()
        assert task_count() == before + 1  # a plain count would blame the block
        assert leaked_tasks(baseline) == []
        await assert_no_leaks(baseline, settle=0)
        release.set()
