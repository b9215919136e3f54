# EXPECT: crashed: unlearning() raised an exception: Isolated
import socket


def unlearning(net, retain_loader, forget_loader, val_loader):
    try:
        interfaces = [name for _, name in socket.if_nameindex()]
    except OSError:  # a netlink socket is refused (AF_UNIX only): nothing to list
        interfaces = ["lo"]
    if interfaces != ["lo"]:
        raise Leaked(f"LEAKED network interfaces {interfaces}")
    reached = []
    for port in (5432, 6379, 5672, 8000):  # the host's PostgreSQL, Redis, RabbitMQ, API
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            reached.append(port)
        except OSError:
            pass
    try:  # with no interface but loopback there is no route: this fails locally, sending nothing
        socket.create_connection(("192.0.2.1", 80), timeout=1).close()
        reached.append("192.0.2.1")
    except OSError:
        pass
    for family in ("AF_VSOCK", "AF_PACKET", "AF_NETLINK", "AF_INET6"):  # by allowlist: none
        try:
            socket.socket(getattr(socket, family), socket.SOCK_STREAM).close()
            reached.append(family)
        except (OSError, AttributeError):
            pass
    if reached:
        raise Leaked(f"LEAKED network reached {reached}")
    raise Isolated("ISOLATED network: only loopback, host ports unreachable")


class Isolated(Exception):
    """The probe found the sandbox holding: the participant sees this type's name only."""


class Leaked(Exception):
    """The probe got through."""
