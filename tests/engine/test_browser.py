"""verdict.html in a real browser: headless Chromium, JavaScript off and on.

Every claim id must be visible (laid out with a non-empty box), the page must make no request
outside the file (Chromium's own network events, with DNS and proxy pointed at nothing as a second
guard, plus a scan of the HTML), and a quote holding a script must stay text. Screenshots go to
the reports dir (reports/browser/), which CI keeps.

Chromium is driven over its DevTools pipe (--remote-debugging-pipe, no extra package): with
JavaScript off, --dump-dom returns nothing, but the DevTools DOM and layout calls still work.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import select
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import pytest

from softmax_claimcheck.claimcheck.plugin import RUN_KEY
from tests.engine.conftest import ClaimsProject, claim_entry

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Second guard: nothing resolves and every proxied request goes to a dead port.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9",
    "--remote-debugging-pipe",
]
WIDTH, HEIGHT, MAX_SHOT_HEIGHT = 1280, 900, 4000
CLAIM_IDS = "details.claim > summary code.cid"
ATTACK = "<script>document.title='pwned'</script><img src=http://127.0.0.1:9/leak.png>"
PNG_1PX = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def chromium() -> str | None:
    return os.environ.get("CLAIMCHECK_CHROMIUM") or next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
        None,
    )


class DevTools:
    """A minimal Chrome DevTools Protocol client over the pipe (fds 3 and 4 of the browser)."""

    def __init__(self, binary: str, profile_dir: Path, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # The pipes arrive as stdin and stdout; the shell moves them to fds 3 and 4.
        move_fds = 'exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>/dev/null'
        self.process = subprocess.Popen(
            ["sh", "-c", move_fds, binary, *FLAGS, f"--user-data-dir={profile_dir}"],
            stdin=to_browser_r,
            stdout=from_browser_w,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self.session = ""

    def call(self, method: str, session: bool = True, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, event: str) -> dict[str, Any]:
        while True:
            found = next((e for e in self.events if e.get("method") == event), None)
            if found is not None:
                self.events.remove(found)
                return found
            self.events.append(self._read())

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer over the DevTools pipe")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def open_page(self) -> None:
        target = self.call("Target.createTarget", session=False, url="about:blank")
        attached = self.call(
            "Target.attachToTarget", session=False, targetId=target["targetId"], flatten=True
        )
        self.session = attached["sessionId"]
        for method in ("Page.enable", "Network.enable", "DOM.enable"):
            self.call(method)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=HEIGHT,
            deviceScaleFactor=1,
            mobile=False,
        )

    def load(self, url: str, javascript: bool) -> None:
        self.call("Emulation.setScriptExecutionDisabled", value=not javascript)
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def requested_urls(self) -> list[str]:
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def visible_claim_ids(self) -> list[str]:
        """Claim ids whose element has a layout box with an area (DOM and layout calls, no page
        JavaScript needed)."""
        root = self.call("DOM.getDocument", depth=0)["root"]["nodeId"]
        visible = []
        for node in self.call("DOM.querySelectorAll", nodeId=root, selector=CLAIM_IDS)["nodeIds"]:
            try:
                box = self.call("DOM.getBoxModel", nodeId=node)["model"]
            except RuntimeError:
                continue  # no box: not rendered
            if box["width"] > 0 and box["height"] > 0:
                outer = self.call("DOM.getOuterHTML", nodeId=node)["outerHTML"]
                visible.append(re.sub(r"<[^>]+>", "", outer))
        return visible

    def shown_text(self, selector: str) -> str | None:
        """The text of the first element matching selector if it is laid out with an area
        (visible without opening anything), else None."""
        root = self.call("DOM.getDocument", depth=0)["root"]["nodeId"]
        node = self.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        if not node:
            return None
        try:
            box = self.call("DOM.getBoxModel", nodeId=node)["model"]
        except RuntimeError:
            return None  # not rendered (e.g. inside a closed <details>)
        if not (box["width"] > 0 and box["height"] > 0):
            return None
        return re.sub(r"<[^>]+>", "", self.call("DOM.getOuterHTML", nodeId=node)["outerHTML"])

    def screenshot(self, path: Path) -> None:
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": WIDTH, "height": min(size["height"], MAX_SHOT_HEIGHT)}
        shot = self.call(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={**clip, "scale": 1},
        )
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close", session=False)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


class ExternalReferences(HTMLParser):
    """Every reference in the page that could make a request: attributes that load or link,
    CSS url(...) and @import; only data: URIs and in-page #anchors are allowed."""

    LOADING: ClassVar = {
        "src",
        "srcset",
        "href",
        "poster",
        "data",
        "action",
        "formaction",
        "background",
    }

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        if tag in {"script", "iframe", "object", "embed", "link", "base"}:
            self.found.append(f"<{tag}> element")
        for name, value in attrs:
            value = (value or "").strip()
            if name == "style":
                self._css(value)
            elif re.search(r"https?://", value) or (
                name in self.LOADING and not value.startswith(("data:", "#"))
            ):
                self.found.append(f"{tag}[{name}]={value[:80]}")

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self._css(data)

    def _css(self, css: str) -> None:
        for ref in re.findall(r"url\(\s*['\"]?([^'\")]*)", css) + re.findall(r"@import", css):
            if not ref.startswith("data:"):
                self.found.append(f"css {ref[:80]}")


def external_references(page: str) -> list[str]:
    parser = ExternalReferences()
    parser.feed(page)
    return parser.found


# -- the page under test: every verdict, evidence of each kind, a comparison, an attack ----------
CHECKS = f"""
    import pytest
    from pathlib import Path
    from softmax_claimcheck.claimcheck.evidence import Figure

    class Case:
        def __init__(self, impl, dtype):
            self.impl, self.dtype = impl, dtype
        def labels(self):
            return {{"implementation": self.impl, "device": "cpu", "dtype": self.dtype}}

    CASES = [Case(i, d) for i in ("numpy-stable", "torch-softmax") for d in ("float64", "float32")]

    @pytest.mark.claim("printed-number")
    @pytest.mark.parametrize("case", CASES, ids=lambda c: f"{{c.impl}}-{{c.dtype}}")
    def test_printed(evidence, case):
        true = float(Path("true.value").read_text())
        evidence.record_inputs(scores=[2.8, 1.2, 0.5, 3.1])
        evidence.printed_value("p[the]", 0.38, true, 0.005, "2 decimals", decimals=2)

    @pytest.mark.claim("property-held")
    @pytest.mark.parametrize("case", CASES, ids=lambda c: f"{{c.impl}}-{{c.dtype}}")
    def test_property(evidence, case):
        evidence.property_holds("all outputs > 0", True, [0.1, 0.9], "every value > 0")
        evidence.figures.append(Figure("a one-pixel figure", "{PNG_1PX}"))
        evidence.note({ATTACK!r})

    @pytest.mark.claim("partly", reading="float64")
    def test_partly_holds(evidence):
        evidence.close_to("output vs exact", [0.5, 0.5], [0.5, 0.5], 1e-12, "float64")

    @pytest.mark.claim("partly", reading="float16")
    def test_partly_fails(evidence):
        evidence.close_to("output vs exact", [0.5, 0.5], [0.49, 0.51], 1e-3, "float16")

    @pytest.mark.claim("crashes")
    def test_crash():
        raise RuntimeError("a harness bug")

    @pytest.mark.claim("needs-cuda")
    def test_cuda():
        pytest.skip("no CUDA device on this machine")

    @pytest.mark.claim("experiment")
    def test_experiment(evidence):
        evidence.record_scale(preset="cpu", steps=160, parameters=117632, seeds=4,
                              task=["language modelling"])
        evidence.table(
            "The arms behind this check",
            ["arm", "learning rate (swept)", "seeds", "steps", "final val. loss", "wall time"],
            [["lm-softmax-dk64-L2", "0.006 (of 0.0025, 0.006)", 4, 160, "3.050", "41 s"],
             ["lm-unscaled-dk64-L2", "0.0025 (of 0.0025, 0.006)", 4, 160, "3.102", "40 s"]],
        )
        evidence.interval_decision("slowdown", (1.3, 2.5), (3.0, 5.0), "rule")
        evidence.conclude("steps to a common loss, unscaled / scaled: 1.8× (95% interval "
                          "[1.3, 2.5] over 4 seeds) against the claimed 3–5×: smaller than claimed")
"""

CLAIMS = [
    claim_entry("printed-number", "REFUTED", kind="numeric-example", quote=ATTACK, scope="softmax"),
    claim_entry("property-held", statement=ATTACK, scope="softmax"),
    claim_entry(
        "partly",
        "PARTLY SUPPORTED",
        readings=[{"id": "float64", "text": "in float64"}, {"id": "float16", "text": "in float16"}],
    ),
    claim_entry("crashes", "ERROR"),
    claim_entry("needs-cuda", "NOT RUN", kind="implementation"),
    claim_entry("opinion", kind="not-checkable", expect="NOT CHECKABLE", reason="an opinion"),
    claim_entry("experiment", "NOT REPRODUCED", kind="empirical", scope="training"),
]


@pytest.fixture
def rendered_report(claims_project: ClaimsProject) -> Path:
    """verdict.html of a run with every verdict, compared with an earlier run."""
    true_value = claims_project.root / "true.value"
    claims_project.claims(*CLAIMS)
    claims_project.checks(CHECKS)
    true_value.write_text("0.3775")
    claims_project.run(reports="before")
    true_value.write_text("0.3743")
    previous = claims_project.root / "before" / "verdict.json"
    claims_project.run("--compare-with", str(previous))
    assert claims_project.verdicts() == {c["id"]: c["expect"] for c in CLAIMS}
    return claims_project.root / "reports" / "verdict.html"


@pytest.fixture
def screenshots_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """reports/browser/ of this session (CI keeps it), or a temporary dir with --no-reports."""
    state = request.config.stash[RUN_KEY]
    reports = state.option_path("--reports-dir", "claimcheck_reports_dir")
    if reports is None or request.config.getoption("--no-reports"):
        return tmp_path
    (reports / "browser").mkdir(parents=True, exist_ok=True)
    return reports / "browser"


def test_html_references_nothing_outside_the_file(rendered_report):
    page = rendered_report.read_text(encoding="utf-8")
    assert "data:image/png;base64," in page  # figures are embedded
    assert external_references(page) == []


def test_parser_finds_external_references():
    """The scan itself can fail: each kind of outside reference is found."""
    page = (
        '<img src="https://x/y.png"><link rel=stylesheet href="s.css"><a href="http://x">x</a>'
        '<style>body { background: url(bg.png) } @import "more.css";</style>'
        '<div style="background: url(\'data:image/png;base64,AA\')"><a href="#ok">ok</a></div>'
    )
    assert external_references(page) == [
        "img[src]=https://x/y.png",
        "<link> element",
        "link[href]=s.css",
        "a[href]=http://x",
        "css bg.png",
        "css @import",
    ]


@pytest.mark.skipif(
    chromium() is None,
    reason="Chromium not installed (apt-get install -y chromium): the browser check of "
    "verdict.html needs it",
)
def test_report_in_headless_chromium(rendered_report, screenshots_dir, tmp_path):
    """Screenshots: verdict-js-off.png and verdict-js-on.png as a reader first sees the page,
    verdict-expanded.png with every claim opened (evidence tables, figures)."""
    claim_ids = [c["id"] for c in CLAIMS]
    shutil.copy(rendered_report, screenshots_dir / "verdict-synthetic.html")
    browser = DevTools(chromium() or "", tmp_path / "chromium-profile")

    def evaluate(expression: str) -> Any:
        return browser.call("Runtime.evaluate", expression=expression)["result"].get("value")

    try:
        browser.open_page()
        for javascript in (False, True):
            browser.load(rendered_report.as_uri(), javascript=javascript)
            mode = "js-on" if javascript else "js-off"
            browser.screenshot(screenshots_dir / f"verdict-{mode}.png")
            assert browser.visible_claim_ids() == claim_ids, mode
            outside = [u for u in browser.requested_urls() if not u.startswith(("file:", "data:"))]
            assert outside == [], (mode, outside)
        title = evaluate("document.title")
        quote = evaluate("document.querySelector('#claim-printed-number q').textContent")
        evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        figures_drawn = evaluate("[...document.images].every(i => i.complete && i.naturalWidth)")
        browser.screenshot(screenshots_dir / "verdict-expanded.png")
        assert browser.visible_claim_ids() == claim_ids, "expanded"
    finally:
        browser.close()
    assert title == "Verdict report: Understanding Softmax"  # the quoted script did not run
    assert quote == ATTACK  # it shows as text
    assert figures_drawn is True
    for name in ("js-off", "js-on", "expanded"):
        png = (screenshots_dir / f"verdict-{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000, name


@pytest.mark.skipif(
    chromium() is None, reason="Chromium not installed (apt-get install -y chromium)"
)
def test_findings_are_visible_and_a_training_claim_shows_its_arms(rendered_report, tmp_path):
    """A refuted claim's finding reads without opening anything (JavaScript off); a training
    claim's details, once opened, show its arm table beside the finding and its scale."""
    browser = DevTools(chromium() or "", tmp_path / "chromium-profile")
    try:
        browser.open_page()
        browser.load(rendered_report.as_uri(), javascript=False)
        refuted = browser.shown_text("#claim-printed-number summary .finding")
        browser.load(rendered_report.as_uri(), javascript=True)
        browser.call(
            "Runtime.evaluate", expression="document.querySelector('#claim-experiment').open = true"
        )
        arms = browser.shown_text("#claim-experiment table.grid")
        scale = browser.shown_text("#claim-experiment table.scale")
        finding = browser.shown_text("#claim-experiment summary .finding")
    finally:
        browser.close()
    assert refuted is not None and "prints 0.38" in refuted and "0.3743" in refuted, refuted
    assert arms is not None and "learning rate" in arms and "lm-unscaled-dk64-L2" in arms, arms
    assert scale is not None and "160" in scale, scale
    assert finding is not None and finding.startswith("At the cpu preset's scale"), finding
