"""The wire: the packets that really crossed, captured and named for the run.

Owns the capture (an AF_PACKET ring, its BPF filters, the pcap file), the segments built
from captured frames (who sent them, which call caused them, whether they were sent again),
where a run's wire is watched, and reading a WebSocket frame's header for display.
"""
