"""The pilot's idle windows that tests/conftest.py shortens are the ones Textual reads: a
Textual that renamed them would leave every app test waiting 20 ms windows again, silently."""

from __future__ import annotations

import textual._wait


def test_the_idle_wait_reads_the_windows_the_tests_set():
    names = textual._wait.wait_for_idle.__code__.co_names
    assert "SLEEP_GRANULARITY" in names and "SLEEP_IDLE" in names
    assert textual._wait.SLEEP_GRANULARITY == 0.005
    assert textual._wait.SLEEP_IDLE == 0.005 / 20
