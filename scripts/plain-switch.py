#!/usr/bin/env python3
"""A bank switch written from docs/iso8583-binding.md alone: a plain TCP socket, a 2-byte length,
gov-bill messages built and read by hand (no ISO 8583 library, nothing of stm-adapter's code).

It signs on, echoes, inquires the amount due on a payment notice, pays it, reverses the
payment, and signs off, printing every answer. Exit 0 when every answer is the one the binding
promises, 1 otherwise.

    scripts/plain-switch.py --address 127.0.0.1:7583 --notice 44010026120000000001 --amount 1100
"""

import argparse
import socket
import struct
import sys
import time

# DE: (kind, length) — kind "fixed" (length in characters), "ll" or "lll" (ASCII length
# prefix counting bytes), "b" (8 bytes as 16 hexadecimal characters). From the "Data elements"
# table of docs/iso8583-binding.md.
FORMATS = {
    2: ("ll", 19), 3: ("fixed", 6), 4: ("fixed", 12), 7: ("fixed", 10), 11: ("fixed", 6),
    12: ("fixed", 6), 13: ("fixed", 4), 15: ("fixed", 4), 32: ("ll", 11), 33: ("ll", 11),
    37: ("fixed", 12), 38: ("fixed", 6), 39: ("fixed", 2), 41: ("fixed", 8), 42: ("fixed", 15),
    48: ("lll", 999), 49: ("fixed", 3), 64: ("b", 8), 70: ("fixed", 3), 74: ("fixed", 10),
    75: ("fixed", 10), 76: ("fixed", 10), 77: ("fixed", 10), 86: ("fixed", 16),
    87: ("fixed", 16), 88: ("fixed", 16), 89: ("fixed", 16), 90: ("fixed", 42),
    97: ("fixed", 17), 128: ("b", 8),
}


def tlv(records):
    """DE48: a 4-character tag, a 3-digit length in bytes, the value."""
    out = b""
    for tag, value in records:
        data = value.encode("utf-8")
        out += tag.encode("ascii") + b"%03d" % len(data) + data
    return out


def untlv(data):
    records, i = {}, 0
    while i + 7 <= len(data):
        tag, length = data[i:i + 4].decode("ascii"), int(data[i + 4:i + 7])
        records[tag] = data[i + 7:i + 7 + length].decode("utf-8")
        i += 7 + length
    return records


def encode(mti, fields):
    bits = sorted(fields)
    secondary = any(b > 64 for b in bits)
    bitmap = [0] * (128 if secondary else 64)
    if secondary:
        bitmap[0] = 1
    for b in bits:
        bitmap[b - 1] = 1
    body = mti.encode("ascii")
    for half in range(len(bitmap) // 64):
        word = bitmap[half * 64:(half + 1) * 64]
        body += b"%016X" % int("".join(map(str, word)), 2)
    for b in bits:
        kind, size = FORMATS[b]
        value = fields[b]
        data = value if isinstance(value, bytes) else str(value).encode("utf-8")
        if kind == "ll":
            body += b"%02d" % len(data)
        elif kind == "lll":
            body += b"%03d" % len(data)
        elif len(data) != size:
            raise ValueError(f"DE{b} must be {size} characters: {data!r}")
        body += data
    return struct.pack(">H", len(body)) + body


def decode(body):
    mti, i = body[:4].decode("ascii"), 4
    primary = int(body[i:i + 16], 16)
    i += 16
    bits = [n + 1 for n in range(64) if primary >> (63 - n) & 1]
    if 1 in bits:
        secondary = int(body[i:i + 16], 16)
        i += 16
        bits = [b for b in bits if b != 1] + [65 + n for n in range(64) if secondary >> (63 - n) & 1]
    fields = {}
    for b in bits:
        kind, size = FORMATS[b]
        if kind == "ll":
            size, i = int(body[i:i + 2]), i + 2
        elif kind == "lll":
            size, i = int(body[i:i + 3]), i + 3
        elif kind == "b":
            size = 16
        fields[b] = body[i:i + size]
        i += size
    return mti, fields


class Link:
    def __init__(self, address):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.stan = 0
        self.now = time.strftime("%m%d%H%M%S", time.gmtime(time.time() + 8 * 3600))

    def next_stan(self):
        self.stan += 1
        return "%06d" % self.stan

    def exchange(self, mti, fields):
        self.sock.sendall(encode(mti, fields))
        head = self._read(2)
        return decode(self._read(struct.unpack(">H", head)[0]))

    def _read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("the biller closed the link")
            data += chunk
        return data


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1:7583")
    parser.add_argument("--notice", required=True)
    parser.add_argument("--amount", type=int, required=True, help="the amount due, in fen")
    args = parser.parse_args()
    link = Link(args.address)
    failures = []

    def step(name, mti, fields, expect, check=None):
        answer_mti, answer = link.exchange(mti, fields)
        code = answer.get(39, b"--").decode("ascii")
        extra = untlv(answer[48]) if 48 in answer else {}
        print(f"{name}: {answer_mti} DE39={code} {extra or ''}".rstrip())
        if code != expect:
            failures.append(f"{name}: DE39 {code}, expected {expect}")
        if check and not check(answer, extra):
            failures.append(f"{name}: unexpected answer {answer} {extra}")
        return answer, extra

    common = {32: "01020000", 41: "PLAIN001", 42: "102440153990001", 49: "156"}
    step("sign-on", "0800", {7: link.now, 11: link.next_stan(), 70: "001"}, "00",
         lambda a, _: a.get(70) == b"001")
    step("echo", "0800", {7: link.now, 11: link.next_stan(), 70: "301"}, "00")
    step("inquiry", "0200", {3: "380000", 7: link.now, 11: link.next_stan(), 12: "100000",
                             13: link.now[:4], 37: "700000000001",
                             48: tlv([("PN01", args.notice)]), **common}, "00",
         lambda _, t: t.get("AD01") == str(args.amount))
    pay_stan = link.next_stan()
    step("payment", "0200", {3: "500000", 4: "%012d" % args.amount, 7: link.now, 11: pay_stan,
                             12: "100000", 13: link.now[:4], 37: "700000000002",
                             48: tlv([("PN01", args.notice)]), **common}, "00",
         lambda a, _: len(a.get(38, b"")) == 6)
    step("reversal", "0420", {3: "500000", 4: "%012d" % args.amount, 7: link.now,
                              11: link.next_stan(), 37: "700000000002", 39: "98",
                              90: "0200" + pay_stan + link.now + "%011d" % 1020000 + "0" * 11,
                              **common}, "00")
    step("sign-off", "0800", {7: link.now, 11: link.next_stan(), 70: "002"}, "00")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
