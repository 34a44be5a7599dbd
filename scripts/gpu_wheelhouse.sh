#!/usr/bin/env bash
# What scripts/gpu_check.sh needs on a locked-down GPU machine (no network, a preinstalled CUDA torch), made
# here with pip download and apt-get download, in folders that fit its 64 MiB transfers:
#   scripts/gpu_wheelhouse.sh          # Python 3.12, the GPU image's: build/gpu-wheelhouse/py312/{1,2}
#   scripts/gpu_wheelhouse.sh 3.11     # the CPU rehearsal's (CI): build/gpu-wheelhouse/py311/{1,2}
#
# Transfer 1 (38 MiB; with the repository's ~3 MiB well inside 64 MiB): everything the check needs.
#   wheels/  what the image lacks (the image has numpy, scipy, matplotlib, pillow, tqdm, tensorboard, absl-py,
#            etils, lxml, protobuf, ninja, setuptools, ... and torch): mujoco 3.17.0 (27 MB), dm_control 1.0.50
#            repacked without the assets smg-fast never loads (56 MB -> 2.2 MB: see below), dm-env, dm-tree, labmaze,
#            glfw, PyOpenGL, gymnasium, Farama-Notifications, websockets, importlib-resources;
#   gl/      the EGL/GL loaders (Debian packages), unpacked only where the image has no libEGL.so.1;
#   data/    DMC-GB's colour sets (64 KB; the training run evaluates train and color_hard).
# Transfer 2 (optional, 44 MiB): av (35 MB) and DMC-GB's video_easy (11 MB), for the video step.
#
# Why dm_control is repacked: every environment here, the robot tasks included, renders through
# dm_control.mujoco, so a training run needs dm_control and mujoco together (83 MB as published: more than one
# transfer). Of dm_control's 56 MB, 53 are assets smg-fast never loads: those of locomotion's soccer, walkers
# and arenas, the suite's dog model, the MuJoCo test models and the Blender exporter's manual. The repacked wheel
# drops those asset folders (and their RECORD lines), no Python module; the CPU rehearsal installs the same
# repacked wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
PYV="${1:-3.12}"
TAG="py${PYV/./}"
OUT="build/gpu-wheelhouse/$TAG"
DATA="${SMG_FAST_DATA:-$(cd .. && pwd)/shared/data}"
rm -rf "$OUT" && mkdir -p "$OUT/1/wheels" "$OUT/1/gl" "$OUT/1/data/dmcgb" "$OUT/2/wheels" "$OUT/2/data/dmcgb"

# PIP_CONFIG_FILE=/dev/null: PyPI alone (this machine's pip configuration adds local indexes and a torch cap).
download() {
  local dest="$1"; shift
  PIP_CONFIG_FILE=/dev/null python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version "$PYV" --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 -d "$dest" "$@"
}
download "$OUT/1/wheels" mujoco==3.17.0 dm_control==1.0.50 dm-env==1.6 dm-tree==0.1.10 labmaze==1.0.6 glfw==2.11.0 \
  pyopengl==3.1.10 gymnasium==1.4.0 farama-notifications==0.0.6 "websockets>=13,<18" importlib-resources==7.1.0
download "$OUT/2/wheels" "av>=12,<20"  # 19.0.2 for Python 3.12 (abi3 wheels from 3.12 on)

# dm_control without the assets it carries for modules smg-fast does not use.
python3 - "$OUT/1/wheels"/dm_control-*.whl <<'EOF'
import base64, csv, hashlib, io, sys, zipfile
path = sys.argv[1]
DROP = ("dm_control/locomotion/soccer/assets/", "dm_control/locomotion/walkers/assets/",
        "dm_control/locomotion/arenas/assets/", "dm_control/suite/dog_assets/", "dm_control/mujoco/testing/assets/",
        "dm_control/blender/mujoco_exporter/doc/")  # asset folders only: every Python module stays
src = zipfile.ZipFile(path)
names = [i for i in src.infolist() if not i.filename.startswith(DROP)]
record = next(i.filename for i in names if i.filename.endswith(".dist-info/RECORD"))
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
    rows = []
    for info in names:
        if info.filename == record:
            continue
        data = src.read(info)
        dst.writestr(info, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append((info.filename, f"sha256={digest}", str(len(data))))
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows + [(record, "", "")])
    dst.writestr(record, text.getvalue())
before = sum(i.compress_size for i in src.infolist())
src.close()
open(path, "wb").write(buf.getvalue())
print(f"[gpu_wheelhouse] dm_control repacked: {before / 1e6:.1f} MB -> {len(buf.getvalue()) / 1e6:.1f} MB")
EOF

# EGL/GL loaders (amd64) for an image without them (the device machines' documented set).
if command -v apt-get >/dev/null; then
  lists="$(mktemp -d)"; mkdir -p "$lists/partial"
  o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
  apt-get $o update -qq >/dev/null 2>&1 || true
  (cd "$OUT/1/gl" && apt-get $o download libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null 2>&1) \
    || echo "[gpu_wheelhouse] note: the GL loader packages could not be downloaded (needed only where the image lacks libEGL)"
  rm -rf "$lists"
fi

cp "$DATA"/dmcgb/color_easy.json "$DATA"/dmcgb/color_hard.json "$OUT/1/data/dmcgb/"
if [ -d "$DATA/dmcgb/video_easy" ]; then cp -r "$DATA/dmcgb/video_easy" "$OUT/2/data/dmcgb/"; fi

for part in 1 2; do
  mib=$(du -sm "$OUT/$part" | cut -f1)
  echo "[gpu_wheelhouse] $OUT/$part: ${mib} MiB ($(find "$OUT/$part" -type f | wc -l) files)"
  [ "$mib" -le 58 ] || { echo "[gpu_wheelhouse] $OUT/$part is over 58 MiB: it would not travel with the repository"; exit 1; }
done
