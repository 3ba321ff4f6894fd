"""The run's frames as a classic pcap file (``--pcap``): what tcpdump and Wireshark open.

Why apart from the capture: writing a file is not watching a wire - the frames may come
from the loopback capture or from the two-host link, and the format is a few fixed records.
Standard library only.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import BinaryIO

from sockviz.engine.wire.frame_parser import SNAPLEN, Frame

#: The pcap file header: magic (microsecond times, written little-endian), version 2.4,
#: time zone and accuracy (0), the snapshot length, and the link type (1: Ethernet).
_FILE_HEADER = struct.Struct("<IHHiIII")
_MAGIC, _VERSION, _LINKTYPE_ETHERNET = 0xA1B2C3D4, (2, 4), 1
#: Each frame's record header: seconds, microseconds, bytes kept, the frame's whole length.
_RECORD_HEADER = struct.Struct("<IIII")


def write_pcap(out: BinaryIO, frames: Iterable[Frame]) -> None:
    """The frames as a classic pcap file: Ethernet link type, each frame with its real
    time, at most :data:`~sockviz.engine.wire.frame_parser.SNAPLEN` bytes of it."""
    out.write(_FILE_HEADER.pack(_MAGIC, *_VERSION, 0, 0, SNAPLEN, _LINKTYPE_ETHERNET))
    for frame in frames:
        seconds = int(frame.t)
        micros = round((frame.t - seconds) * 1_000_000)
        if micros == 1_000_000:
            seconds, micros = seconds + 1, 0
        out.write(_RECORD_HEADER.pack(seconds, micros, len(frame.raw), frame.length))
        out.write(frame.raw)
