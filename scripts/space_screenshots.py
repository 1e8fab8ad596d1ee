"""Drive every tab of the running demo Space in a real browser and save a screenshot of each.

Playwright drives Debian's chromium (`apt-get install -y chromium`, `pip install playwright`):

    hf-nlp space &                                          # or: python space/app.py
    python scripts/space_screenshots.py http://127.0.0.1:7860/ --out space/screenshots

The browser test (tests/space/test_space.py) runs the same `drive_tabs` against tiny models.
"""

from __future__ import annotations

import argparse
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
TABS = ("shakespeare", "sentiment", "translate", "results")


def drive_tabs(url: str, out_dir: Path, prompt: str = "ROMEO:", review: str = "A moving, beautifully acted film.",
               sentence: str = "I like soccer", generated_chars: int = 150, timeout_ms: int = 120_000) -> dict[str, str]:
    """Type into each tab, click, wait for the output and screenshot it; returns each tab's output
    text, and under `error` the message shown for an empty sentence."""
    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    shown: dict[str, str] = {}
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                         args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.set_default_timeout(timeout_ms)
        page.goto(url)

        page.get_by_role("tab", name="Shakespeare").click()
        page.locator("#prompt textarea").fill(prompt)
        page.locator("#generate").click()
        page.wait_for_function(
            f"document.querySelector('#generated textarea').value.length >= {len(prompt) + generated_chars}")
        shown["shakespeare"] = page.locator("#generated textarea").input_value()
        page.screenshot(path=str(out_dir / "shakespeare.png"), full_page=True)

        page.get_by_role("tab", name="Sentiment").click()
        page.locator("#review textarea").fill(review)
        page.locator("#classify").click()
        # A probability (4 decimals; the queue's timer shows "0.0s") or a missing model's note.
        page.wait_for_function(r"/\d\.\d{3}|could not be loaded/.test(document.querySelector('#labels').innerText)")
        shown["sentiment"] = page.locator("#labels").inner_text()
        page.screenshot(path=str(out_dir / "sentiment.png"), full_page=True)

        page.get_by_role("tab", name="Translate").click()
        page.locator("#sentence textarea").fill(sentence)
        page.locator("#translate").click()
        page.wait_for_function("document.querySelector('#translations').innerText.includes('greedy')")
        shown["translate"] = page.locator("#translations").inner_text()
        page.screenshot(path=str(out_dir / "translate.png"), full_page=True)

        page.get_by_role("tab", name="Results").click()
        page.wait_for_function("document.querySelector('#results').innerText.length > 20")
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
