#!/usr/bin/env bash
# Build the Linux bundle: dist/caseload/ (run dist/caseload/caseload) and
# dist/caseload-<version>-linux-<arch>.tar.gz with a desktop entry and the icon.
#
#   python3 -m pip install -e '.[build]' && build/linux.sh
#
# PyInstaller's scratch files go to $CASELOAD_PYINSTALLER_WORK (default
# ${TMPDIR:-/tmp}/caseload-pyinstaller), never into build/, which holds these
# sources. Set PYTHON to build with another interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
work=${CASELOAD_PYINSTALLER_WORK:-${TMPDIR:-/tmp}/caseload-pyinstaller}
version=$("$python" -c 'import re, pathlib; print(re.search(r"__version__ = \"([^\"]+)\"", pathlib.Path("desktop/__init__.py").read_text()).group(1))')
arch=$(uname -m)
name="caseload-$version-linux-$arch"

started=$(date +%s)
"$python" -m PyInstaller --noconfirm --clean --log-level WARN \
  --workpath "$work" --distpath dist app.spec
echo "PyInstaller finished in $(( $(date +%s) - started )) s"

# The bundle must at least start and know its version before it is packed.
bundle_version=$(dist/caseload/caseload --version)
if [ "$bundle_version" != "caseload $version" ]; then
  echo "dist/caseload/caseload --version said '$bundle_version', expected 'caseload $version'" >&2
  exit 1
fi

# The tarball unpacks to one folder: the app, a desktop entry and its icon. The
# entry names the command and the icon, not paths, so it works once the folder's
# caseload is on PATH and the icon is in the icon theme (README: "Install the bundle").
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -a dist/caseload "$stage/$name"
cp resources/icons/caseload.svg resources/icons/caseload.png "$stage/$name/"
cat > "$stage/$name/caseload.desktop" <<EOF
[Desktop Entry]
Type=Application
Name=Caseload
GenericName=Client roster
Comment=Keep a therapy practice's roster of clients
Exec=caseload
Icon=caseload
Terminal=false
Categories=Office;MedicalSoftware;
Keywords=clients;therapy;practice;roster;
StartupWMClass=Caseload
EOF
tar -C "$stage" -czf "dist/$name.tar.gz" "$name"

echo "Built dist/caseload/ ($(du -sh dist/caseload | cut -f1)) and dist/$name.tar.gz ($(du -sh "dist/$name.tar.gz" | cut -f1)) in $(( $(date +%s) - started )) s"
