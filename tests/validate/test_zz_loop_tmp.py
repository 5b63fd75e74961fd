import pytest

from tests.validate.test_validate import test_generated_corruptions_fail_exactly_their_checks as gen


@pytest.mark.parametrize("run", range(50))
def test_loop(run, extracted, tmp_path):
    gen(extracted=extracted, tmp_path=tmp_path)
