#!/usr/bin/env python3
"""Cuts WenQuanYi Micro Hei down to what the sandbox's documents need.

The subset holds ASCII, the GB 2312 symbols and level-1 hanzi (3,755 most common characters),
a few typographic marks, and every character of fixtures/**/*.toml, so a document about any
shipped item renders without a missing glyph. The result, fixtures/sandbox/fonts/
wqy-microhei-gb2312.ttf, is committed; rerun this after adding fixtures with rare characters.

Needs Debian's fonts-wqy-microhei and fonttools (pip install fonttools):

    python3 scripts/gen-sandbox-font.py
"""
import glob
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
TARGET = ROOT / "fixtures/sandbox/fonts/wqy-microhei-gb2312.ttf"


def characters():
    chars = set(chr(c) for c in range(0x20, 0x7F))
    # GB 2312 rows 1-9 (symbols, full-width forms) and 16-55 (level-1 hanzi).
    for first in list(range(0xA1, 0xAA)) + list(range(0xB0, 0xD8)):
        for second in range(0xA1, 0xFF):
            try:
                chars.add(bytes([first, second]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    chars.update("\u00b7\u2014\u2026\u2018\u2019\u201c\u201d\u00a5\uff5e\u3001\u3002")
    for path in glob.glob(str(ROOT / "fixtures/**/*.toml"), recursive=True):
        chars.update(c for c in Path(path).read_text(encoding="utf-8") if ord(c) >= 0x20)
    return "".join(sorted(chars))


def main():
    text = characters()
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt") as f:
        f.write(text)
        f.flush()
        subprocess.run(
            ["pyftsubset", SOURCE, "--font-number=0", f"--text-file={f.name}",
             f"--output-file={TARGET}", "--layout-features=", "--no-hinting",
             "--desubroutinize", "--name-IDs=*", "--notdef-outline"],
            check=True,
        )
    print(f"{TARGET}: {len(text)} characters, {TARGET.stat().st_size} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
