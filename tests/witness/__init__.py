"""Tests that hold sockviz's words and numbers against independent witnesses: tshark on the
run's own pcap, ``ss -tanoi`` at paused steps, ``strace -ttt`` of its calls (issue 23)."""
