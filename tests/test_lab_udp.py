"""UDP over a link that loses datagrams (issue 24, item 13): the loss is the lesson, not a
failure. A receive waits the time its step states and returns EAGAIN - a real call with its
real result - and the run goes on to its closes and ends 0; the datagram's packet line says
the link lost it. Real runs on two hosts (``sockviz --trace``, side by side)."""

from __future__ import annotations

from tests.test_lab import call, needs_hosts, packets, traces


@needs_hosts
def test_udp_echo_over_a_lossy_link_shows_the_loss_and_finishes():
    (gone, err_gone), (back_lost, err_back) = traces(
        [
            ("--scenario", "udp-echo", "--link", "loss=100%"),
            ("--scenario", "udp-echo", "--link", "loss=50%,seed=0"),  # (there: yes; back: no)
        ]
    )
    # Every datagram lost: the server's recvfrom() times out; nothing is sent back.
    assert [p["link"] for p in packets(gone)] == ["lost"]
    waited = call(gone, "server", "recvfrom")
    assert waited["error"] == "EAGAIN" and waited["nbytes"] is None
    assert not [r for r in gone if r["call"] == "sendto" and r["socket"] == "server"]
    # The greeting crossed, the echo was lost: the client's recvfrom() times out.
    assert [(p["from"], p["link"]) for p in packets(back_lost)] == [
        ("client", "crossed"),
        ("server", "lost"),
    ]
    assert call(back_lost, "server", "recvfrom")["error"] is None
    assert call(back_lost, "client", "recvfrom")["error"] == "EAGAIN"
    for records, err in ((gone, err_gone), (back_lost, err_back)):
        assert call(records, "client", "close")["error"] is None
        assert call(records, "server", "close")["error"] is None
        assert "error" not in err, err
