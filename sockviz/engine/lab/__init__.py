"""The lab: two hosts in network namespaces of the run's own, joined by a link it controls.

Owns the namespaces, the two hosts (their TUN devices and addresses), and the link between
them (delay, jitter, rate, seeded loss, named drops, held segments).
"""
