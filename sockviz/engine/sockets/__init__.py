"""The traced socket: each real socket call made, and the one event that says what it did.

Owns :class:`~sockviz.engine.sockets.traced_socket.TracedSocket` (one call, one event) and
its :class:`~sockviz.engine.sockets.socket_record.SocketRecord` (what is known of it between
calls), the bulk calls that stay fast however many bytes cross, how a call and its arguments
are written, and the :class:`~sockviz.engine.sockets.tracer.Tracer` that numbers a run's
events and reads the kernel (through its kernel watch) and the wire around each call.
"""
