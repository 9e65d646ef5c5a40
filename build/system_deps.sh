#!/usr/bin/env bash
# Installs the Debian packages Genre Desktop needs to run and to test itself.
# As root it runs apt-get; otherwise it prints the exact command to run and fails.
# `--list` prints the package names and exits (the README explains each one).
set -euo pipefail

PACKAGES=(
  # Python itself and `python3 -m venv` (the Makefile builds .venv with it)
  python3 python3-venv
  # audio: PortAudio for playback (sounddevice), libsndfile for decoding (soundfile),
  # ffmpeg for MP3 and other formats libsndfile cannot read
  libportaudio2 libsndfile1 ffmpeg
  # ALSA's pulse plugin: PortAudio talks ALSA, this routes its `pulse`/`default` device to PulseAudio
  libasound2-plugins
  # Qt 6 on X11 (xcb platform plugin) and the OpenGL/font/D-Bus libraries it loads
  libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libegl1 libgl1 libfontconfig1
  libdbus-1-3 libglib2.0-0 fonts-dejavu-core
  # test harness: virtual screen, private D-Bus session with the Secret Service, a sound server
  xvfb xauth x11-utils dbus dbus-x11 gnome-keyring libsecret-tools pulseaudio pulseaudio-utils
  # packaging: PyInstaller inspects binaries with objdump
  binutils
)

if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${PACKAGES[@]}"
  exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing system packages. Run as root:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -q --no-install-recommends "${missing[@]}"
