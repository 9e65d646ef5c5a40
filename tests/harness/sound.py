"""A private PulseAudio daemon with a null sink, reachable by PortAudio through ALSA's pulse plugin.

sounddevice -> PortAudio -> ALSA -> libasound2-plugins' `pulse` PCM -> this daemon (PULSE_SERVER).
What is played to the null sink can be recorded back from its `.monitor` source with parec.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .processes import HarnessError, ManagedProcess, wait_until

SINK_NAME = "genre_test_sink"


@dataclass
class PulseServer:
    server: str  # value for PULSE_SERVER
    sink: str
    runtime: Path
    process: ManagedProcess

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def monitor(self) -> str:
        return f"{self.sink}.monitor"

    def env(self) -> dict[str, str]:
        return {"PULSE_SERVER": self.server, "PULSE_SINK": self.sink}

    def pactl(self, *args: str) -> str:
        out = subprocess.run(
            ["pactl", *args], env={**os.environ, **self.env()},
            capture_output=True, text=True, timeout=15,
        )
        if out.returncode != 0:
            raise HarnessError(f"pactl {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    def sink_state(self) -> str:
        """RUNNING while a stream plays into the sink, IDLE or SUSPENDED otherwise."""
        for line in self.pactl("list", "short", "sinks").splitlines():
            fields = line.split("\t")
            if len(fields) >= 5 and fields[1] == self.sink:
                return fields[4].strip()
        raise HarnessError(f"sink {self.sink} is gone")

    def start_recording(self, path: Path, *, rate: int = 48000) -> MonitorRecording:
        """Record the sink's monitor (mono float32) until stop() is called."""
        proc = ManagedProcess(
            "parec",
            ["parec", f"--device={self.monitor}", "--format=float32le", f"--rate={rate}",
             "--channels=1", "--raw", "--latency-msec=20", str(path)],
            env={**os.environ, **self.env()},
            log_path=path.with_suffix(".log"),
        )
        # parec writes as soon as the stream exists; wait for the first bytes so nothing is missed
        wait_until(lambda: path.exists() and path.stat().st_size > 0, timeout=10, proc=proc,
                   what="recording")
        return MonitorRecording(path=path, rate=rate, process=proc)

    def stop(self) -> None:
        self.process.stop()


@dataclass
class MonitorRecording:
    path: Path
    rate: int
    process: ManagedProcess

    def stop(self) -> np.ndarray:
        self.process.stop()
        return np.fromfile(self.path, dtype="<f4")


def start_pulseaudio(workdir: Path) -> PulseServer:
    runtime = workdir / "run"
    home = workdir / "home"
    for d in (runtime, home):
        d.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    socket = runtime / "native"
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "PULSE_RUNTIME_PATH": str(runtime / "pulse"),
        "PULSE_STATE_PATH": str(home / "state"),
    }
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    env.pop("DISPLAY", None)
    proc = ManagedProcess(
        "pulseaudio",
        [
            "pulseaudio", "--daemonize=no", "--system=false", "--exit-idle-time=-1",
            "-n",  # no default.pa: only the modules below, no hardware probing
            "--use-pid-file=false", "--disable-shm=true", "--log-target=stderr",
            f"--load=module-native-protocol-unix socket={socket} auth-anonymous=1",
            f"--load=module-null-sink sink_name={SINK_NAME} rate=48000 channels=2"
            " sink_properties=device.description=GenreDesktopTestSink",
        ],
        env=env,
        log_path=workdir / "pulseaudio.log",
    )
    server = PulseServer(server=f"unix:{socket}", sink=SINK_NAME, runtime=runtime, process=proc)
    try:
        wait_until(lambda: server.sink_state(), timeout=20, proc=proc, what="serving its null sink")
        server.pactl("set-default-sink", SINK_NAME)
    except BaseException:
        proc.stop()
        raise
    return server


def rescan_portaudio() -> None:
    """PortAudio lists devices once, at initialisation: re-initialise it if it already ran."""
    sd = sys.modules.get("sounddevice")
    if sd is not None:
        sd._terminate()
        sd._initialize()


def find_output_device(server: PulseServer) -> tuple[int, str]:
    """The sounddevice output that reaches `server`: ALSA's `pulse` PCM, else `default`."""
    import sounddevice as sd

    devices = sd.query_devices()
    outputs = {d["name"]: d["index"] for d in devices if d["max_output_channels"] > 0}
    for name in ("pulse", "default"):
        if name in outputs:
            return outputs[name], name
    raise HarnessError(
        "PortAudio lists no ALSA `pulse` or `default` output (is libasound2-plugins installed?). "
        f"Devices: {[d['name'] for d in devices]}"
    )


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    window = np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(samples * window))
    return float(np.fft.rfftfreq(len(samples), 1.0 / rate)[int(np.argmax(spectrum))])
