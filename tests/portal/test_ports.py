"""Ports the launcher hands to its children stay clear of outgoing connections' ports."""

from portal.ports import _ephemeral_low, free_port


def test_free_ports_lie_below_the_ephemeral_range_and_are_never_handed_out_twice():
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(p < _ephemeral_low() for p in ports), sorted(ports)[-5:]



def test_processes_side_by_side_take_disjoint_shares(monkeypatch):
    picked = {}
    for index in (0, 1, 2):
        monkeypatch.setenv("AIPORTAL_PORT_SHARE", f"{index}/3")
        picked[index] = {free_port() for _ in range(100)}
        assert {p % 3 for p in picked[index]} == {index}
    assert not (picked[0] & picked[1] or picked[1] & picked[2] or picked[0] & picked[2])
