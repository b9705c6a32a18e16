"""Headless Chromium driven over the DevTools protocol (``--remote-debugging-pipe``).

Used by the HTML report tests and ``bench/html``. The pipe needs no port (nothing to collide
with other engineers' runs) and no third-party package: commands go to the browser's fd 3 as
NUL-terminated JSON, answers and events come back on its fd 4.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("FAULTBOX_CHROMIUM", "/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
)


class CdpError(Exception):
    """The browser answered a command with an error, or did not answer in time."""


class Chromium:
    """One headless browser with one page; always call :meth:`close` (or use ``with``)."""

    def __init__(self, *, width: int = 1400, height: int = 1000, timeout_s: float = 60.0) -> None:
        self.timeout_s = timeout_s
        self.profile = tempfile.mkdtemp(prefix="faultbox-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def remap() -> None:  # the browser expects the pipe on fds 3 (in) and 4 (out)
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        argv = [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}",
                f"--window-size={width},{height}", "about:blank"]  # fmt: skip
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=remap,
            pass_fds=(3, 4),  # fds are closed after preexec_fn: keep the remapped two
            start_new_session=True,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._next_id = 0
        self._answers: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="cdp-reader", daemon=True)
        self._reader.start()
        self.session = ""
        try:
            target = self.send("Target.createTarget", url="about:blank")["targetId"]
            attached = self.send("Target.attachToTarget", targetId=target, flatten=True)
            self.session = attached["sessionId"]
            self.call("Page.enable")
            self.call("Runtime.enable")
            self.call(
                "Emulation.setDeviceMetricsOverride",
                width=width, height=height, deviceScaleFactor=1, mobile=False,
            )  # fmt: skip
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_child, 1 << 20)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._lock:
                        q = self._answers.get(msg["id"])
                    if q is not None:
                        q.put(msg)
                else:
                    self.events.put(msg)

    def send(self, method: str, session: str = "", **params: Any) -> dict[str, Any]:
        """Send one command; its result (raises :class:`CdpError` on an error answer)."""
        with self._lock:
            self._next_id += 1
            msg_id = self._next_id
            answer: queue.Queue[dict[str, Any]] = queue.Queue()
            self._answers[msg_id] = answer
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self._to_child, data) :]
        try:
            reply = answer.get(timeout=self.timeout_s)
        except queue.Empty:
            raise CdpError(f"{method}: no answer within {self.timeout_s:g}s") from None
        finally:
            with self._lock:
                self._answers.pop(msg_id, None)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """A command for the page (sent on the page's session)."""
        return self.send(method, self.session, **params)

    def open(self, path: Path) -> None:
        """Navigate to a local file and wait for its load event."""
        while not self.events.empty():
            self.events.get_nowait()
        self.call("Page.navigate", url=path.resolve().as_uri())
        self.wait_event("Page.loadEventFired")

    def wait_event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CdpError(f"no {method} within {self.timeout_s:g}s")
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if ev.get("method") == method:
                return ev

    def eval(self, expression: str) -> Any:
        """Evaluate JavaScript in the page (promises awaited); its JSON value."""
        res = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in res:
            details = res["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CdpError(f"JavaScript error: {text}")
        return res["result"].get("value")

    def wait_for(self, expression: str) -> Any:
        """Poll ``expression`` until it is truthy (the page's own timers run meanwhile)."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise CdpError(f"still false after {self.timeout_s:g}s: {expression}")
            time.sleep(0.05)  # polling a page, not synchronising processes

    def click(self, x: float, y: float) -> None:
        """A real left click at page coordinates (mouse moved, pressed, released)."""
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def screenshot(self, path: Path, *, full_page: bool = False) -> Path:
        """Save a PNG of the page (the viewport, or the whole page)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            size = self.eval("[document.documentElement.scrollWidth, document.body.scrollHeight]")
            params["clip"] = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
        data = self.call("Page.captureScreenshot", **params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """Kill the browser's whole process group and remove its profile directory."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, 9)
        self.proc.wait()
        self._await_group_gone()
        self._reader.join(10)  # EOF once the browser is gone; then its fd can be closed
        for fd in (self._to_child, self._from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _await_group_gone(self) -> None:
        """Wait until no process of the browser's group exists (zombies included).

        Its helpers are re-parented when the browser dies; if that is us (a child subreaper,
        as faultbox's runtime makes its process), we reap them here.
        """
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                while os.waitpid(-self.proc.pid, os.WNOHANG)[0]:
                    pass
            try:
                os.killpg(self.proc.pid, 9)
            except ProcessLookupError:
                return
            time.sleep(0.02)  # polling for the kernel to finish killing them
        raise CdpError(f"processes of chromium's group {self.proc.pid} outlived SIGKILL")
