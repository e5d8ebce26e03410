#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (corpus/<target>/seed-*).

Run from anywhere; rewrites only the seed-* files. The layouts are the ones
the targets' headers describe (line_model.hpp, line_reader_fuzz.cpp,
peer_address_fuzz.cpp).
"""
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent

READLINE = 0


def read(n):
    return 1 + 3 * n


def read_some(m):
    return 2 + 3 * (m - 1)


def script(max_line, ops):
    return struct.pack("<HB", max_line, len(ops)) + bytes(ops)


LINES = [  # (name, max_line, script ops, pieces for the connection, payload)
    ("lines", 0, [], [], b"hello\nworld\n"),
    ("last-line-without-newline", 0, [], [], b"one\ntwo\nthree"),
    ("empty", 0, [], [], b""),
    ("empty-lines", 0, [], [], b"\n\n\nx\n\n"),
    ("last-line-of-exactly-the-limit", 5, [], [], b"abcd\nabcde"),
    ("line-of-exactly-the-limit", 5, [], [], b"abcd\nabcde\nabcdef\n"),
    ("over-long-line", 4, [], [], b"ab\nabcdef\nx\n"),
    ("over-long-last-line", 4, [], [], b"ab\nabcdef"),
    ("mixed-reads", 0, [READLINE, read(2), read_some(3), READLINE], [], b"line one\nline two\n\nend"),
    ("read-past-the-end", 0, [read(40)], [], b"short\n"),
    ("byte-by-byte", 8, [], [1] * 24, b"ab\ncd\nefgh\nij\nklmnopq\n"),
    ("newline-split-across-pieces", 6, [READLINE, read_some(1)], [3, 1, 4, 1, 5, 9, 2, 6], b"abc\ndef\nghijk\nlmn"),
    ("binary", 0, [], [2, 2, 2], b"\x00\r\n\xff\xfe\n\x00\x00"),
    ("long-lines", 300, [], [128, 128, 7], (b"x" * 299 + b"\n") * 12 + b"y" * 301 + b"\n"),
]


def peer_addresses():
    ipv4 = bytes([0]) + struct.pack("!H4s", 9999, bytes([127, 0, 0, 1])) + bytes(8)
    ipv6 = bytes([1]) + struct.pack("!HI16sI", 443, 0, bytes(15) + b"\x01", 0)
    unix = bytes([2]) + b"/tmp/switchboard/client.sock\x00"
    return [
        ("ipv4", ipv4),
        ("ipv6", ipv6),
        ("ipv4-short", ipv4[:5]),
        ("unix-path", unix),
        ("unix-full-sun-path-without-nul", bytes([2]) + b"p" * 108),
        ("unix-abstract", bytes([2]) + b"\x00abstract-name"),
        ("unix-unnamed", bytes([2])),
        ("family-only-half", bytes([0, 0])[:1]),
        ("unknown-family", bytes([99]) + b"whatever"),
    ]


MAGIC_LINES = [
    ("boom", b"BOOM\n"),
    ("boom42-crlf", b"BOOM42\r\n"),
    ("oom", b"OOM\n"),
    ("hang", b"HANG\n"),
    ("whoami", b"WHOAMI\n"),
    ("sleep", b"SLEEP100\n"),
    ("sleep-longest", b"SLEEP60000\n"),
    ("sleep-too-long", b"SLEEP60001\n"),
    ("sleep-no-digits", b"SLEEP\n"),
    ("sleep-digit-prefix", b"SLEEP12x\n"),
    ("sleep-leading-zeros", b"SLEEP0000000000000000000000000000005\n"),
    ("sleep-overflow", b"SLEEP18446744073709551616\n"),
    ("lower-case", b"boom\n"),
    ("trailing-space", b"BOOM \n"),
    ("no-newline", b"HANG"),
    ("two-newlines", b"BOOM\n\n"),
]


def write(target, name, data):
    folder = HERE / "corpus" / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"seed-{name}").write_bytes(data)


def main():
    for name, max_line, ops, pieces, payload in LINES:
        header = script(max_line, ops)
        write("datagram_reader", name, header + payload)
        write("line_reader", name, header + bytes([len(pieces)]) + bytes(p - 1 for p in pieces) + payload)
    for name, data in peer_addresses():
        write("peer_address", name, data)
    for name, data in MAGIC_LINES:
        write("fault_magic_line", name, data)


if __name__ == "__main__":
    main()
