"""Physical layer glue between the radio driver and the frame decoder (EN 13757-4).

The radio syncs on 0x543D (the T-mode sync word, also the first half of the C-mode one),
then the first three bytes tell the link mode:
- C1: 0x54 0xCD (frame format A) or 0x54 0x3D (format B), then NRZ bytes starting at L;
- T1: 3-of-6 chips; the first 3 chip bytes decode to L and C.
`packet_len(head)` gives the total number of FIFO bytes of the packet (the driver's
"packet length trick": read 3 bytes, compute, switch the chip to fixed length), and
`to_frame(buf, n, mode)` turns the received bytes into a link-layer frame with CRCs.
"""
from wmbus import WmbusError
from wmbus.frame import len_a, len_b
from wmbus import three_of_six

MODE_T1 = const(1)
MODE_C1A = const(2)
MODE_C1B = const(3)
MAX_PACKET = const(440)  # T1, L=255: 290 bytes -> 435 chip bytes

_head = bytearray(2)


def packet_len(head):
    """-> (bytes after the sync word, mode). Raises WmbusError for a bad first symbol."""
    if head[0] == 0x54 and head[1] == 0xCD:
        n = len_a(head[2])
        if n < 0:
            raise WmbusError("phy", "L too small", 2)
        return 2 + n, MODE_C1A
    if head[0] == 0x54 and head[1] == 0x3D:
        if head[2] < 11:
            raise WmbusError("phy", "L too small", 2)
        return 2 + len_b(head[2]), MODE_C1B
    three_of_six.decode_into(head, 0, _head, 2)
    n = len_a(_head[0])
    if n < 0:
        raise WmbusError("phy", "L too small", 0)
    return three_of_six.encoded_len(n), MODE_T1


def to_frame(buf, n, mode):
    """Received packet bytes -> (frame with CRCs, frame format "A"/"B")."""
    if mode == MODE_T1:
        m = n * 2 // 3
        return three_of_six.decode_into(buf, 0, bytearray(m), m), "A"
    return bytes(buf[2:n]), ("A" if mode == MODE_C1A else "B")


def mode_name(mode):
    return ("", "T1", "C1", "C1")[mode]
