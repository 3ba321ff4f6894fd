"""x writes the ladder as Mermaid and text, ctrl+s an SVG screenshot; each says where."""

from __future__ import annotations

from tests.app.app_helpers import jump, replay_app, settle


async def test_x_exports_the_run_so_far(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("x")  # nothing made yet: nothing written
        await settle(pilot)
        assert list(tmp_path.iterdir()) == []
        await jump(pilot, 9)
        await pilot.press("x")
        await pilot.press("x")  # a second export does not overwrite the first
        await pilot.pause()
        said = [n.message for n in app._notifications]
    mermaid = (tmp_path / "sockviz-tcp-echo-1.mmd").read_text()
    text = (tmp_path / "sockviz-tcp-echo-1.txt").read_text()
    assert (tmp_path / "sockviz-tcp-echo-2.mmd").exists()
    assert mermaid.startswith("sequenceDiagram\n")
    assert "->>" in mermaid and "hello, sockviz" in mermaid
    assert "recv() → 14 B" in text and "close()" not in text  # 9 calls: before any close
    assert any(str(tmp_path / "sockviz-tcp-echo-1.mmd") in m for m in said)
    # the time-sequence graphs: SVG, and PNG for slides (this recording has no capture)
    graph = (tmp_path / "sockviz-tcp-echo-1.graph.svg").read_text()
    assert graph.startswith("<svg") and "No TCP connection carried bytes" in graph
    png = (tmp_path / "sockviz-tcp-echo-1.graph.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


async def test_x_writes_the_graph_of_a_lost_segment(tmp_path, monkeypatch):
    """lost-data: the graph's SVG names the run's counts; its PNG is a picture of the same
    size (twice the SVG's pixels), with the lost bar's red in it."""
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    app = replay_app("graph-lost-data-ipv4", "lost-data")
    async with app.run_test(size=(100, 30)) as pilot:
        await jump(pilot, 9)
        await pilot.press("x")
        await pilot.pause()
    svg = (tmp_path / "sockviz-lost-data-1.graph.svg").read_text()
    assert "1 sent again, 1 lost on the link" in svg
    width = int(svg.split('width="', 1)[1].split('"', 1)[0])
    with Image.open(tmp_path / "sockviz-lost-data-1.graph.png") as png:
        assert png.width == 2 * width
        colours = {colour for _n, colour in png.convert("RGB").getcolors(1 << 20) or []}
    assert (0xD6, 0x27, 0x28) in colours  # (sent again / lost: the graph's red)


async def test_ctrl_s_saves_an_svg_screenshot(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    async with app.run_test(size=(100, 30)) as pilot:
        await jump(pilot, 4)
        await pilot.press("ctrl+s")
        await pilot.pause()
        said = [n.message for n in app._notifications]
    svg = (tmp_path / "sockviz-tcp-echo-1.svg").read_text()
    assert svg.startswith("<svg") and "listen" in svg
    assert any("sockviz-tcp-echo-1.svg" in m for m in said)


async def test_x_and_ctrl_s_never_follow_a_planted_symlink(tmp_path, monkeypatch):
    """A dangling symlink under the name x or ctrl+s would write is skipped: its target is
    never created, and the files go under the next free name."""
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(work)
    for suffix in (".mmd", ".svg"):
        (work / f"sockviz-tcp-echo-1{suffix}").symlink_to(elsewhere / f"owned{suffix}")
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    async with app.run_test(size=(100, 30)) as pilot:
        await jump(pilot, 4)
        await pilot.press("x", "ctrl+s")
        await pilot.pause()
    assert list(elsewhere.iterdir()) == []
    assert (work / "sockviz-tcp-echo-2.mmd").read_text().startswith("sequenceDiagram")
    assert (work / "sockviz-tcp-echo-2.txt").exists()
    assert not (work / "sockviz-tcp-echo-1.txt").exists()  # (.mmd's n was taken: n+1 for both)
    assert (work / "sockviz-tcp-echo-2.svg").read_text().startswith("<svg")
