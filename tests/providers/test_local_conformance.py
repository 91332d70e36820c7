"""The ``local`` provider passes the shipped conformance suite, directly and wrapped.

Also the suite's own machinery: ``known_failures`` and the ``provider`` fixture
that must be overridden, run in a separate pytest session (pytester).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edgesync.providers.local import RESERVED, LocalOptions, LocalProvider
from edgesync.testing import FaultyProvider, ProviderConformance

pytest_plugins = ["pytester"]


def _local(tmp_path: Path) -> LocalProvider:
    return LocalProvider(LocalOptions(root=str(tmp_path / "cloud"), fsync=False))


class TestLocalConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, tmp_path: Path) -> Iterator[LocalProvider]:
        provider = _local(tmp_path)
        yield provider
        # The suite deletes what it wrote, and `local` leaves no partial files.
        left = sorted(str(path.relative_to(provider.root)) for path in provider.root.rglob("*"))
        assert left == [RESERVED, f"{RESERVED}/tmp", f"{RESERVED}/uploads"]


class TestFaultyLocalConformance(ProviderConformance):
    """Without faults, the wrapper is invisible: every rule holds through it."""

    @pytest.fixture
    def provider(self, tmp_path: Path) -> FaultyProvider:
        return FaultyProvider(_local(tmp_path))


# --- the suite's machinery --------------------------------------------------------

_HEADER = """
import pytest
from edgesync.providers.local import LocalOptions, LocalProvider
from edgesync.testing import ProviderConformance
"""


def _run(pytester: pytest.Pytester, source: str, select: str) -> pytest.RunResult:
    pytester.makepyfile(test_suite=_HEADER + source)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error", "-ra",
                                         "-k", select)


_BROKEN_FOR_FOLDERS = """
    @pytest.fixture
    def provider(self, tmp_path):
        provider = LocalProvider(LocalOptions(root=str(tmp_path), fsync=False))
        stat = provider.stat
        # A bug: stat of a folder lets a raw KeyError escape.
        provider.stat = lambda path: {}[path] if path.endswith("folder") else stat(path)
        return provider
"""


def test_known_failures_become_strict_xfails(pytester: pytest.Pytester) -> None:
    result = _run(pytester, """
class TestWithKnownFailures(ProviderConformance):
    known_failures = {
        "test_stat_of_a_folder_raises_not_a_file": "broken, as claimed",
        "test_get_of_a_folder_raises_not_a_file": "claimed broken, but passes",
        "test_difficult_name_round_trip": "claimed broken, but passes",
    }
""" + _BROKEN_FOR_FOLDERS, "folder or (difficult and (cjk or emoji))")
    # A listed test that fails is xfailed; listed tests that pass fail the run
    # (each parametrisation too); an unlisted test is unaffected.
    result.assert_outcomes(xfailed=1, failed=3, passed=1)
    result.stdout.fnmatch_lines_random([
        "XFAIL *::test_stat_of_a_folder_raises_not_a_file - broken, as claimed",
        # The summary adds " - reason" only when the terminal is wide enough.
        "FAILED *::test_get_of_a_folder_raises_not_a_file*",
        "FAILED *::test_difficult_name_round_trip[[]emoji[]]*",
        "FAILED *::test_difficult_name_round_trip[[]cjk[]]*",
        "[[]XPASS(strict)[]] claimed broken, but passes",
    ])


def test_a_known_failure_may_name_one_parametrisation(pytester: pytest.Pytester) -> None:
    result = _run(pytester, """
class TestOneCase(ProviderConformance):
    known_failures = {"test_difficult_name_round_trip[emoji]": "claimed broken, but passes"}
""" + _BROKEN_FOR_FOLDERS, "difficult and (cjk or emoji)")
    # Only the named case is marked (and, passing, fails the run); the other passes.
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["FAILED *::test_difficult_name_round_trip[[]emoji[]]*"])


def test_an_error_outside_edgesync_fails_with_a_clear_message(
        pytester: pytest.Pytester) -> None:
    result = _run(pytester, """
class TestLeaksAnError(ProviderConformance):
""" + _BROKEN_FOR_FOLDERS, "test_stat_of_a_folder")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E * Failed: stat('edgesync-test-*/folder') raised "
                                 "builtins.KeyError: *. Only edgesync.errors may leave a "
                                 "provider*"])


def test_known_failures_must_name_tests(pytester: pytest.Pytester) -> None:
    result = _run(pytester, """
class TestWithTypo(ProviderConformance):
    known_failures = {"test_put_stat_get_roundtrip": "a typo"}
""", "round_trip")
    result.stdout.fnmatch_lines(["*TypeError: TestWithTypo.known_failures names no test of "
                                 "the suite: test_put_stat_get_roundtrip*"])
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_the_provider_fixture_must_be_overridden(pytester: pytest.Pytester) -> None:
    result = _run(pytester, """
class TestForgotTheProvider(ProviderConformance):
    pass
""", "test_put_zero_length")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["TestForgotTheProvider must override the 'provider' fixture*"])
