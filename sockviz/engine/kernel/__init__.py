"""The kernel's own view of the run's sockets: TCP state, timers and queues as Linux reports them.

Owns reading a socket's TCP_INFO, the sock_diag netlink query (with a /proc fallback), the
sockets the run watches, the background watch that turns a change into a kernel line, and
the TCP settings (sysctls) read once at the start of a run.
"""
