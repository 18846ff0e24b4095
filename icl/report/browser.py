"""Open report pages in headless Chromium: check that they render, take screenshots.

This module owns the report's browser side: the checks behind ``tests/test_browser.py``
and the index's screenshot (``reports/index.png``).

No Python dependency beyond the standard library: Chromium is driven over the
DevTools protocol on a pipe (``--remote-debugging-pipe``: the browser reads
commands on its fd 3 and writes replies and events on its fd 4, one JSON message
per NUL-terminated chunk).

    with Chromium() as b:
        b.check(html_path) -> dict       # title, text length, images, links, problems
        b.screenshot(html_path, png)     # PNG of the page, written atomically
    screenshot(html_path, png_path)      # the same in a browser of its own

Pages are loaded *offline* by default (the browser's network is switched off;
``file:`` and ``data:`` URLs still load), so a check passing proves that the page
needs no CDN for what it checks. Every ``http(s)`` request the page attempted is
listed under ``external_requests``.

``problems`` (a list of strings, empty when all is well) names: a page without
text, an image that did not load or has zero natural or displayed size, a local
link whose file does not exist, a same-page ``#fragment`` link without its target,
and a JavaScript exception. External requests are not problems in themselves; the
caller decides which are acceptable (the chapter pages ask for MathJax, which
typesets math and nothing else).

One :class:`Chromium` (a context manager) checks any number of pages.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
ENV_VAR = "ICL_CHROMIUM"  # an explicit browser binary wins over the PATH search
WIDTH, HEIGHT = 1280, 800  # viewport of checks and screenshots (CSS pixels); a screenshot is the full page
MAX_SHOT_HEIGHT = 8000  # a full-page screenshot is cut here
TIMEOUT = 60.0

FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--remote-debugging-pipe",
)

# Runs in the page once it has loaded: waits for every image to decode, then describes
# the page. data: URLs are cut so that the result stays small.
_PROBE = r"""(async () => {
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  const cut = s => s.length > 100 ? s.slice(0, 100) + '...' : s;
  const here = location.href.split('#')[0];
  const hasTarget = id => !!document.getElementById(id) || document.getElementsByName(id).length > 0;
  return JSON.stringify({
    title: document.title,
    text_length: (document.body && document.body.innerText || '').trim().length,
    height: document.documentElement.scrollHeight,
    tables: document.querySelectorAll('table').length,
    images: imgs.map(i => {
      const r = i.getBoundingClientRect();
      return {src: cut(i.getAttribute('src') || ''), complete: i.complete,
              natural_width: i.naturalWidth, natural_height: i.naturalHeight,
              width: Math.round(r.width), height: Math.round(r.height)};
    }),
    links: Array.from(document.querySelectorAll('a[href]')).map(a => {
      const same = a.href.split('#')[0] === here && a.hash.length > 1;
      let target = null;
      if (same) {  // as the HTML spec finds a fragment's element: the raw id first, then percent-decoded
        const raw = a.hash.slice(1);
        target = hasTarget(raw);
        if (!target) { try { target = hasTarget(decodeURIComponent(raw)); } catch (e) { target = false; } }
      }
      return {href: a.getAttribute('href'), url: a.href, text: cut(a.innerText.trim()),
              same_page: same, target_found: target};
    }),
  });
})()"""


class BrowserError(RuntimeError):
    """Chromium could not be started, or a page could not be loaded."""


def find_chromium() -> str | None:
    """The Chromium (or Chrome) binary: ``$ICL_CHROMIUM``, else the first of CANDIDATES on PATH."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        return shutil.which(explicit)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def file_url(path: Path | str) -> str:
    return Path(path).resolve().as_uri()


def local_path(url: str) -> Path | None:
    """The file a ``file:`` URL names (query and fragment dropped); None for other URLs."""
    parts = urlsplit(url)
    return Path(url2pathname(unquote(parts.path))) if parts.scheme == "file" else None


class Chromium:
    """One headless Chromium process with one tab, driven over the DevTools pipe."""

    def __init__(self, binary: str | None = None, timeout: float = TIMEOUT, offline: bool = True):
        self.binary = binary or find_chromium()
        if not self.binary:
            raise BrowserError(f"no Chromium found (${ENV_VAR} or one of {', '.join(CANDIDATES)} on PATH)")
        self.timeout, self.offline = timeout, offline
        self._proc: subprocess.Popen | None = None
        self._next_id = 0
        self._buffer = b""
        self._events: list[dict[str, Any]] = []

    # -------------------------------------------------------------- process and pipe

    def __enter__(self) -> Chromium:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # long: the browser's launch and DevTools handshake, one sequence with its cleanup
    def start(self) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="icl-chromium-")
        self._log = open(Path(self._profile.name) / "chromium.log", "w+b")  # noqa: SIM115 - closed in close()
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_fds() -> None:  # in the child: its fd 3 reads our commands, its fd 4 writes replies
            r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD_CLOEXEC, 10)  # out of the way of 3 and 4
            w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD_CLOEXEC, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)  # dup2 makes 3 and 4 inheritable; every other fd is close-on-exec

        args = [
            self.binary,
            *FLAGS,
            f"--user-data-dir={self._profile.name}/profile",
            f"--window-size={WIDTH},{HEIGHT}",
            "about:blank",
        ]
        try:
            self._proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
                close_fds=False,
                preexec_fn=wire_fds,  # noqa: PLW1509
                start_new_session=True,
            )  # its own process group, see close()
        except OSError as e:
            self._cleanup()
            raise BrowserError(f"cannot start {self.binary}: {e}") from None
        finally:
            os.close(to_browser_r)
            os.close(from_browser_w)
        try:
            targets = self.send("Target.getTargets")["targetInfos"]
            pages = [t for t in targets if t.get("type") == "page"]
            target = (
                pages[0]["targetId"]
                if pages
                else self.send("Target.createTarget", url="about:blank")["targetId"]
            )
            self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Network"):
                self.call(f"{domain}.enable")
            self.call(
                "Emulation.setDeviceMetricsOverride",
                width=WIDTH,
                height=HEIGHT,
                deviceScaleFactor=1,
                mobile=False,
            )
            if self.offline:
                self.call(
                    "Network.emulateNetworkConditions",
                    offline=True,
                    latency=0,
                    downloadThroughput=-1,
                    uploadThroughput=-1,
                )
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            try:
                self.send("Browser.close", timeout=5)
            except (BrowserError, OSError):
                pass
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # kill the browser and its helpers (renderer, zygote...)
                with contextlib.suppress(OSError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        self._proc = None
        self._cleanup()

    def _cleanup(self) -> None:
        for name in ("_to_browser", "_from_browser"):
            fd = getattr(self, name, None)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, None)
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None
        if getattr(self, "_profile", None) is not None:
            self._profile.cleanup()
            self._profile = None

    def _log_tail(self) -> str:
        try:
            self._log.flush()
            self._log.seek(0)
            lines = self._log.read().decode("utf-8", "replace").strip().splitlines()
        except (AttributeError, OSError, ValueError):
            return ""
        return "\n".join(lines[-15:])

    def _fail(self, message: str) -> BrowserError:
        tail = self._log_tail()
        return BrowserError(f"{message}" + (f"\nchromium's output:\n{tail}" if tail else ""))

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._fail("timed out waiting for Chromium")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise self._fail("Chromium closed the DevTools pipe (it exited or failed to start)")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(
        self, method: str, session: str | None = None, timeout: float | None = None, **params: Any
    ) -> dict[str, Any]:
        """Send one DevTools command and wait for its reply (events that arrive meanwhile are kept)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        except OSError as e:
            status = self._proc.poll() if self._proc is not None else None
            raise self._fail(
                f"cannot talk to Chromium ({e.strerror or e}"
                + (f"; it exited with status {status})" if status is not None else ")")
            ) from None
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message', reply['error'])}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """A command to the page's session."""
        return self.send(method, session=self._session, **params)

    def _wait_event(self, method: str, deadline: float) -> dict[str, Any]:
        seen = 0
        while True:
            for event in self._events[seen:]:
                if event["method"] == method and event.get("sessionId") == self._session:
                    return event
            seen = len(self._events)
            event = self._receive(deadline)
            if "method" in event:
                self._events.append(event)

    # -------------------------------------------------------------- pages

    def load(self, html_path: Path | str) -> None:
        """Navigate to a local file and wait for its load event."""
        path = Path(html_path)
        if not path.is_file():
            raise BrowserError(f"{path}: no such file")
        self._events.clear()
        deadline = time.monotonic() + self.timeout
        result = self.call("Page.navigate", url=file_url(path))
        if result.get("errorText"):
            raise BrowserError(f"{path}: {result['errorText']}")
        self._wait_event("Page.loadEventFired", deadline)

    def check(self, html_path: Path | str) -> dict[str, Any]:
        """Load a page and describe it (see the module docstring); ``problems`` empty means fine."""
        path = Path(html_path).resolve()
        self.load(path)
        probe = self.call("Runtime.evaluate", expression=_PROBE, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in probe:
            raise BrowserError(f"{path}: the page probe failed: {probe['exceptionDetails'].get('text')}")
        info: dict[str, Any] = json.loads(probe["result"]["value"])
        info["path"] = str(path)
        self._collect_requests(info)
        info["problems"] = _problems(info)
        return info

    def _collect_requests(self, info: dict[str, Any]) -> None:
        external, failed, exceptions = [], [], []
        urls: dict[str, str] = {}
        for event in self._events:
            p, method = event.get("params", {}), event["method"]
            if method == "Network.requestWillBeSent":
                url = p["request"]["url"]
                urls[p["requestId"]] = url
                if url.startswith(("http:", "https:")):
                    external.append(url)
            elif method == "Network.loadingFailed":
                failed.append({"url": urls.get(p["requestId"], "?"), "error": p.get("errorText", "")})
            elif method == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                exceptions.append((d.get("exception") or {}).get("description") or d.get("text", "exception"))
        info["external_requests"] = sorted(set(external))
        info["failed_requests"] = failed
        info["exceptions"] = exceptions

    def screenshot(
        self, html_path: Path | str, png_path: Path | str, max_height: int = MAX_SHOT_HEIGHT
    ) -> Path:
        """A PNG of the whole page (WIDTH wide, at least HEIGHT high, cut at ``max_height``), written
        atomically."""
        png_path = Path(png_path)
        self.load(html_path)
        self.call(
            "Runtime.evaluate", expression=_PROBE, awaitPromise=True, returnByValue=True
        )  # images decoded
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        height = max(1, min(int(size["height"] + 0.5), max_height))
        shot = self.call(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1},
        )
        data = base64.b64decode(shot["data"])
        if png_size(data) is None:
            raise BrowserError(f"{html_path}: Chromium returned no valid PNG")
        png_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{png_path.name}.", suffix=".tmp", dir=png_path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make a committed file private
            os.replace(tmp, png_path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return png_path


def _problems(info: dict[str, Any]) -> list[str]:
    problems = []
    if info["text_length"] == 0:
        problems.append("the page shows no text")
    for img in info["images"]:
        if not img["complete"] or not img["natural_width"] or not img["natural_height"]:
            problems.append(f"image not loaded: {img['src']}")
        elif not img["width"] or not img["height"]:
            problems.append(f"image displayed with zero size: {img['src']}")
    for link in info["links"]:
        target = local_path(link["url"])
        if link["same_page"]:
            if not link["target_found"]:
                problems.append(f"link {link['href']!r}: no element with that id on the page")
        elif target is not None:
            if not target.exists():
                problems.append(f"link {link['href']!r}: {target} does not exist")
    problems += [f"JavaScript exception: {e}" for e in info.get("exceptions", [])]
    return problems


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of PNG bytes, or None when they are not a PNG."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def screenshot(html_path: Path | str, png_path: Path | str) -> Path:
    """Save a PNG screenshot of a page (WIDTH CSS pixels wide, the full page at least HEIGHT high),
    atomically."""
    with Chromium() as browser:
        return browser.screenshot(html_path, png_path)
