from pathlib import Path

import pytest

from pipeline.errors import MediaError
from pipeline.media.probe import probe
from tests.conftest import HAMILTON_FIRST_PTS_S, fixture, insightface_image


def test_probe_reads_hamilton_parameters():
    info = probe(fixture("hamilton.mp4"))
    assert (info.video_codec, info.width_px, info.height_px) == ("h264", 640, 360)
    assert info.fps == pytest.approx(29.97, abs=0.01)
    assert info.first_pts_s == pytest.approx(HAMILTON_FIRST_PTS_S, abs=0.001)
    assert 9.0 < info.duration_s <= 10.0
    assert info.has_audio and not info.is_image and info.rotation_deg == 0


@pytest.mark.parametrize("name,size", [("two_people.jpg", (1126, 661)), ("obama_and_biden.jpg", (2000, 1428))])
def test_probe_treats_a_still_as_a_one_frame_video(name, size):
    info = probe(fixture(name))
    assert info.is_image and info.frame_count == 1 and info.display_size_px == size


def test_probe_decides_by_content_not_extension(tmp_path):
    disguised = tmp_path / "holiday.mp4"
    disguised.write_bytes(insightface_image("Tom_Hanks_54745.png").read_bytes())
    assert probe(disguised).is_image
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture\n" * 50)
    with pytest.raises(MediaError, match=r"notes\.jpg: (not a readable video or image|first video frame does not decode)"):
        probe(text)


def test_probe_names_empty_and_truncated_files(tmp_path: Path):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(MediaError, match=r"empty.mp4: empty file \(0 bytes\)"):
        probe(empty)
    data = fixture("hamilton.mp4").read_bytes()
    head = tmp_path / "head.mp4"
    head.write_bytes(data[: len(data) // 3])  # moov atom is at the end: no index, no streams
    with pytest.raises(MediaError, match="head.mp4"):
        probe(head)
