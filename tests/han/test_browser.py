"""Headless Chromium (Debian `chromium`) loads the consumer page over HTTPS, logs in with
HTTP Digest, and the screenshot shows the chart (pixels of the chart's bar colour)."""
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from hanfixture import NOW, FakeGateway

CHROMIUM = "/usr/bin/chromium"
BAR = (0x2A, 0x7A, 0xE2)  # fill colour of the chart bars (han/pages.py)

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason="chromium not installed (make deps)")


def png_pixels(path):
    """Decode an 8-bit RGB/RGBA non-interlaced PNG: (width, height, rows of bytes, bpp)."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, typ = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if typ == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0
            bpp = 3 if ctype == 2 else 4
        elif typ == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, rows, bpp


def count_colour(path, rgb, tol=6):
    w, h, rows, bpp = png_pixels(path)
    n = 0
    for r in rows:
        for x in range(0, w * bpp, bpp):
            if all(abs(r[x + k] - rgb[k]) <= tol for k in range(3)):
                n += 1
    return w, h, n


def chromium(tmp_path, args):
    prof = tmp_path / "profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={prof}", "--ignore-certificate-errors",
           "--window-size=800,900"] + args
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    finally:
        shutil.rmtree(prof, ignore_errors=True)


@pytest.fixture(scope="module")
def bgw(tmp_path_factory):
    g = FakeGateway(tmp_path_factory.mktemp("browser"), {"now": NOW})
    yield g
    g.stop()


def test_consumer_page_login_and_chart_screenshot(bgw, tmp_path):
    u, p = bgw.user("consumer1")
    url = f"https://{u}:{p}@127.0.0.1:{bgw.port}/ui"
    dom = chromium(tmp_path, ["--dump-dom", url])
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Signed in as <b>consumer1</b>" in dom.stdout and "<svg" in dom.stdout
    png = tmp_path / "consumer.png"
    r = chromium(tmp_path, [f"--screenshot={png}", url])
    assert r.returncode == 0 and png.exists(), r.stderr[-2000:]
    w, h, bars = count_colour(png, BAR)
    assert (w, h) == (800, 900)
    assert bars > 20000, bars  # ~96 bars of the 600x200 chart area


def test_without_or_with_wrong_credentials_no_chart(bgw, tmp_path):
    for url in (f"https://127.0.0.1:{bgw.port}/ui",
                f"https://consumer1:wrong@127.0.0.1:{bgw.port}/ui"):
        png = tmp_path / "anon.png"
        png.unlink(missing_ok=True)
        r = chromium(tmp_path, [f"--screenshot={png}", url])
        if png.exists():
            assert count_colour(png, BAR)[2] == 0
        else:
            assert "ERR_INVALID_AUTH_CREDENTIALS" in r.stderr, r.stderr[-2000:]
        dom = chromium(tmp_path, ["--dump-dom", url])
        assert "<svg" not in dom.stdout and "Signed in" not in dom.stdout
