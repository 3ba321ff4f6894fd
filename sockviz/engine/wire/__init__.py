"""The wire: the packets that really crossed, captured and named for the run.

Owns the headers as declarations (``headers``: Ethernet, IPv4, IPv6, TCP, UDP, their named
constants, no I/O) and the one parser of a frame (``frame_parser``), the capture apart from
them (``capture``: an AF_PACKET ring and its BPF filters; ``pcap_file``: the --pcap file),
the segments built from captured frames (who sent them, which call caused them, whether
they were sent again: ``segments``, ``resends``, ``bulk_sums``), where a run's wire is
watched, and reading a WebSocket frame's header for display.
"""
