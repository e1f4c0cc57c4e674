"""Ports the launcher hands to its children stay clear of outgoing connections' ports."""

from portal.ports import _ephemeral_low, free_port


def test_free_ports_lie_below_the_ephemeral_range_and_are_never_handed_out_twice():
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(p < _ephemeral_low() for p in ports), sorted(ports)[-5:]

