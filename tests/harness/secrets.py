"""A private D-Bus session bus with gnome-keyring's Secret Service, unlocked, for `keyring`.

The bus uses its own configuration without service directories, so nothing is ever
bus-activated behind our back: every daemon on it is one we started and will stop by PID.
"""

from __future__ import annotations

import os
import secrets as _random
import subprocess
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from .processes import ManagedProcess, read_line_from_fd, wait_until

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={rundir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

SECRET_SERVICE_BACKEND = "keyring.backends.SecretService.Keyring"


@dataclass
class SessionBus:
    address: str
    process: ManagedProcess

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        self.process.stop()


@dataclass
class SecretService:
    """gnome-keyring-daemon serving org.freedesktop.secrets on a private session bus."""

    bus: SessionBus
    process: ManagedProcess
    home: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def env(self) -> dict[str, str]:
        """What a child process needs to reach this keyring through `keyring`."""
        return {
            "DBUS_SESSION_BUS_ADDRESS": self.bus.address,
            "PYTHON_KEYRING_BACKEND": SECRET_SERVICE_BACKEND,
        }

    def stop(self) -> None:
        self.process.stop()
        self.bus.stop()


def start_session_bus(workdir: Path) -> SessionBus:
    rundir = workdir / "bus"
    rundir.mkdir(parents=True, exist_ok=True)
    config = workdir / "session.conf"
    config.write_text(_BUS_CONFIG.format(rundir=rundir))
    read_fd, write_fd = os.pipe()
    try:
        proc = ManagedProcess(
            "dbus-daemon",
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--nopidfile",
             f"--print-address={write_fd}"],
            log_path=workdir / "dbus-daemon.log",
            pass_fds=(write_fd,),
        )
    finally:
        os.close(write_fd)
    try:
        address = read_line_from_fd(read_fd, timeout=15, proc=proc, what="printing its address")
    finally:
        os.close(read_fd)
    return SessionBus(address=address, process=proc)


def _secret_service_ready(address: str) -> bool:
    import secretstorage
    from jeepney.io.blocking import open_dbus_connection

    with closing(open_dbus_connection(address)) as conn:
        if not secretstorage.check_service_availability(conn):
            return False
        # --unlock creates the "login" collection; the default alias must point at it, unlocked
        collection = secretstorage.get_default_collection(conn)
        return not collection.is_locked()


def start_secret_service(workdir: Path) -> SecretService:
    """dbus-daemon + `gnome-keyring-daemon --unlock` fed a throwaway password on stdin."""
    bus = start_session_bus(workdir)
    home = workdir / "home"
    rundir = workdir / "run"
    for d in (home, rundir):
        d.mkdir(parents=True, exist_ok=True)
    rundir.chmod(0o700)
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_RUNTIME_DIR": str(rundir),
        "DBUS_SESSION_BUS_ADDRESS": bus.address,
    }
    env.pop("DISPLAY", None)  # no prompts: a locked keyring must fail, not wait for a click
    password = _random.token_hex(16).encode()
    try:
        proc = ManagedProcess(
            "gnome-keyring-daemon",
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            env=env,
            stdin=subprocess.PIPE,
            log_path=workdir / "gnome-keyring.log",
        )
        assert proc.popen.stdin is not None
        proc.popen.stdin.write(password)
        proc.popen.stdin.close()
        wait_until(lambda: _secret_service_ready(bus.address), timeout=20, proc=proc,
                   what="serving an unlocked default collection")
    except BaseException:
        bus.stop()
        raise
    return SecretService(bus=bus, process=proc, home=home)
