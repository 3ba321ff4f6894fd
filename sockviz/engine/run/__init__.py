"""Running a scenario: who makes which call when, and how events reach whoever shows them.

Owns the gate (step, play, fast), the runner that plays a scenario on real sockets in
threads, the runners that meet a real outside peer, the engine in a process of its own,
replaying a recording, batching events for a UI, and checking a step's expectations.
"""
