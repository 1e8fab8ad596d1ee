"""Drive every tab of the running demo Space in a real browser and save a screenshot of each.

Playwright drives Debian's chromium (`apt-get install -y chromium`, `pip install playwright`):

    hf-nlp space &                                          # or: python space/app.py
    python scripts/space_screenshots.py http://127.0.0.1:7860/ --out space/screenshots

The screenshots in space/screenshots/ are of the models its models.yaml lists: serve those with
`hf-nlp space --models space/screenshots/models.yaml &` first.

Each screenshot waits until the tab has settled: its output holds the expected text, no component is
`pending` (Gradio draws a waiting output at 20 % opacity: the greyed-out table) or `generating` (still
streaming), no progress or ETA text is shown, every image has loaded, and all of that has held for
half a second. The browser test (tests/space/test_space.py) runs the same `drive_tabs` against tiny
models.
"""

from __future__ import annotations

import argparse
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
TABS = ("shakespeare", "sentiment", "translate", "results")
# What Gradio shows while an event runs: a waiting output (`pending`), a streaming one (`generating`),
# the status tracker's progress bar and "processing | 1.6s" text.
BUSY = ".pending, .generating, .eta-bar, .progress-text"
SETTLED_FOR_MS = 500  # outlasts Gradio's fade-in of a new value
# A lazy image (the Results gallery) below the viewport never loads and a full-page shot shows it blank:
# each poll makes the lazy ones eager.
SETTLED = """([busy, settledForMs]) => {
  document.querySelectorAll('img[loading=lazy]').forEach((image) => { image.loading = 'eager'; });
  const done = (READY) && document.querySelector(busy) === null
    && [...document.images].every((image) => image.complete && image.naturalWidth > 0);
  if (!done) { window.__settledSince = null; return false; }
  window.__settledSince = window.__settledSince ?? performance.now();
  return performance.now() - window.__settledSince >= settledForMs;
}"""

WHY_NOT = """(busy) => JSON.stringify({ready: Boolean(READY),
  busy: [...document.querySelectorAll(busy)].map((element) => element.className).slice(0, 5),
  unloadedImages: [...document.images].filter((image) => !(image.complete && image.naturalWidth > 0))
    .map((image) => image.src).slice(0, 5)})"""


def wait_settled(page, ready: str) -> None:
    """Wait until the JavaScript condition `ready` (the expected output is there) holds and Gradio shows no
    pending, streaming or loading state, for `SETTLED_FOR_MS` in a row: a screenshot taken earlier shows
    the output greyed out or half written."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.evaluate("window.__settledSince = null")
    try:
        page.wait_for_function(SETTLED.replace("READY", ready), arg=[BUSY, SETTLED_FOR_MS], polling=100)
    except PlaywrightTimeout:
        raise RuntimeError(f"the page did not settle: {page.evaluate(WHY_NOT.replace('READY', ready), BUSY)}") from None


def drive_tabs(url: str, out_dir: Path, prompt: str = "ROMEO:", review: str = "A moving, beautifully acted film.",
               sentence: str = "I like soccer", generated_chars: int = 150, timeout_ms: int = 120_000) -> dict[str, str]:
    """Type into each tab, click, wait for the output to settle and screenshot it; returns each tab's
    output text, the Translate tab's `corpus` line and `examples`, and under `error` the message shown
    for an empty sentence."""
    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    shown: dict[str, str] = {}
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                         args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.set_default_timeout(timeout_ms)
        page.goto(url)
        wait_settled(page, "document.querySelector('#generate') !== null")  # the app itself has loaded

        page.get_by_role("tab", name="Shakespeare").click()
        page.locator("#prompt textarea").fill(prompt)
        page.locator("#generate").click()
        wait_settled(page, f"document.querySelector('#generated textarea').value.length >= {len(prompt) + generated_chars}")
        shown["shakespeare"] = page.locator("#generated textarea").input_value()
        page.screenshot(path=str(out_dir / "shakespeare.png"), full_page=True)

        page.get_by_role("tab", name="Sentiment").click()
        page.locator("#review textarea").fill(review)
        page.locator("#classify").click()
        # A probability (4 decimals; the queue's timer shows "0.0s") or a missing model's note.
        wait_settled(page, r"/\d\.\d{3}|could not be loaded/.test(document.querySelector('#labels').innerText)")
        shown["sentiment"] = page.locator("#labels").inner_text()
        page.screenshot(path=str(out_dir / "sentiment.png"), full_page=True)

        page.get_by_role("tab", name="Translate").click()
        page.locator("#sentence textarea").fill(sentence)
        page.locator("#translate").click()
        wait_settled(page, "document.querySelector('#translations').innerText.includes('greedy')")
        shown["translate"] = page.locator("#translations").inner_text()
        page.screenshot(path=str(out_dir / "translate.png"), full_page=True)
        shown["corpus"] = page.locator("#corpus").inner_text()
        shown["examples"] = "\n".join(examples.inner_text() for examples in
                                      page.locator("#reference_examples, #test_examples").all())

        page.get_by_role("tab", name="Results").click()
        wait_settled(page, "document.querySelector('#results').innerText.length > 20")
        shown["results"] = page.locator("#results").inner_text()
        page.screenshot(path=str(out_dir / "results.png"), full_page=True)

        page.get_by_role("tab", name="Translate").click()
        page.locator("#sentence textarea").fill("")
        page.locator("#translate").click()
        error = page.get_by_text("the sentence is empty").first
        error.wait_for()
        shown["error"] = error.inner_text()
        browser.close()
    return shown


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the running Space, e.g. http://127.0.0.1:7860/")
    parser.add_argument("--out", type=Path, default=Path("space/screenshots"))
    args = parser.parse_args(argv)
    drive_tabs(args.url, args.out)
    print("\n".join(str(args.out / f"{tab}.png") for tab in TABS))  # noqa: T201  (a script's output)


if __name__ == "__main__":
    main()
