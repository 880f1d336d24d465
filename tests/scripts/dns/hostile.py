# hostile.py SERVER PORT COUNT: hostile DNS at the front end, from a peer dns_allow lets in:
# random bytes, truncated queries, a 60 000-byte datagram, compression loops, absurd counts, a
# TCP stream announcing more than it sends and one sending garbage. Prints how many were sent.
import random
import socket
import struct
import sys

server, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(10)


def query(name, qtype=28):
    body = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    return struct.pack(">HHHHHH", random.randrange(65536), 0x0100, 1, 0, 0, 0) + body + struct.pack(">HH", qtype, 1)


good = query("0.myapp.pnrp.net")
kinds = [
    lambda: bytes(random.randrange(256) for _ in range(random.randrange(1, 600))),
    lambda: good[: random.randrange(len(good))],
    lambda: good[:12] + b"\xc0\x0c\x00\x1c\x00\x01",
    lambda: good[:12] + b"\x01a\xc0\x0e\x00\x1c\x00\x01",
    lambda: good[:4] + b"\xff\xff\xff\xff\xff\xff\xff\xff" + good[12:],
    lambda: good + bytes(random.randrange(256) for _ in range(random.randrange(1, 200))),
    lambda: bytes(random.randrange(256) for _ in range(12)) + good[12:],
]
udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
sent = 0
for index in range(count):
    try:
        udp.sendto(random.choice(kinds)(), (server, port))
        sent += 1
    except OSError:
        pass
try:
    udp.sendto(good[:12] + bytes(60000), (server, port))
    sent += 1
except OSError:
    pass
for payload in [struct.pack(">H", 65535) + good, struct.pack(">H", 4) + b"\xff" * 4, b"\x00"]:
    try:
        with socket.create_connection((server, port), timeout=2) as tcp:
            tcp.sendall(payload)
            tcp.settimeout(1)
            try:
                tcp.recv(65536)
            except OSError:
                pass
    except OSError:
        pass
print(f"sent {sent} hostile datagrams and 3 hostile TCP streams")
