"""`python -m bot bench retrieval` reaches the benchmark and passes its options through."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import main


def test_bench_retrieval_reads_its_own_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "retrieval", "--xquad", str(tmp_path), "--questions", "3"]) == 2
    assert f"No XQuAD data in {tmp_path}" in capsys.readouterr().out
