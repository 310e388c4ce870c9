"""Render the application icon from ``resources/icons/caseload.svg`` into the formats packagers need.

Windows wants ``caseload.ico`` for the executable, macOS ``caseload.icns`` for
the app bundle, and Linux desktop files a ``caseload.png``; the running app
itself loads the SVG. The outputs are checked in beside the SVG, so a build
does not need this script; run it again after changing the SVG::

    QT_QPA_PLATFORM=offscreen python build/make_icons.py [--preview sheet.png]

``--preview`` also draws every icon in ``resources/icons`` at 16, 24 and 48
pixels on a light and a dark strip, to check them by eye.

Both containers hold PNG images, which every Windows since Vista and every
macOS since 10.7 reads, so no image library beyond Qt is needed.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# ICNS element types that hold PNG data, by pixel size.
ICNS_TYPES = (("icp4", 16), ("icp5", 32), ("icp6", 64), ("ic07", 128), ("ic08", 256),
              ("ic09", 512), ("ic10", 1024))


def render(svg: Path, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QSvgRenderer(str(svg)).render(painter, QRectF(0, 0, size, size))
    painter.end()
    return image


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


def ico(images: dict[int, bytes]) -> bytes:
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = len(header) + 16 * len(images)
    entries, blobs = b"", b""
    for size, data in images.items():
        side = 0 if size >= 256 else size  # 0 means 256 in an ICO directory entry
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(data), offset)
        blobs += data
        offset += len(data)
    return header + entries + blobs


def icns(images: dict[str, bytes]) -> bytes:
    body = b"".join(kind.encode("ascii") + struct.pack(">I", 8 + len(data)) + data
                    for kind, data in images.items())
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def preview(out: Path) -> None:
    icons = sorted(ICONS.glob("*.svg"))
    sizes = (16, 24, 48)
    cell = 64
    sheet = QImage(cell * len(icons), cell * len(sizes) * 2, QImage.Format.Format_ARGB32)
    painter = QPainter(sheet)
    for band, background in enumerate(("#f6f7f9", "#2b2f36")):
        painter.fillRect(0, band * cell * len(sizes), sheet.width(), cell * len(sizes), QColor(background))
        for col, svg in enumerate(icons):
            for row, size in enumerate(sizes):
                x = col * cell + (cell - size) // 2
                y = (band * len(sizes) + row) * cell + (cell - size) // 2
                painter.drawImage(x, y, render(svg, size))
    painter.end()
    sheet.save(str(out))
    print(f"wrote {out}: {', '.join(p.stem for p in icons)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preview", type=Path, metavar="PNG")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QGuiApplication(sys.argv[:1])  # noqa: F841 — QPainter needs one

    svg = ICONS / "caseload.svg"
    png = {size: png_bytes(render(svg, size)) for size in {*ICO_SIZES, *(s for _, s in ICNS_TYPES)}}
    (ICONS / "caseload.png").write_bytes(png[256])
    (ICONS / "caseload.ico").write_bytes(ico({s: png[s] for s in ICO_SIZES}))
    (ICONS / "caseload.icns").write_bytes(icns({kind: png[s] for kind, s in ICNS_TYPES}))
    print(f"wrote caseload.png, caseload.ico and caseload.icns in {ICONS}")
    if args.preview:
        preview(args.preview)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
