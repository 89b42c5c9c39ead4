"""The catalogue in a real browser: headless Chromium (Debian's, driven by Selenium), on
SQLite and on PostgreSQL. The example is captured and published for real with the
catalogue configured, so ``publish`` itself sends it; the catalogue lists it, search
finds it, its landing page shows the digests and the rerun command, a hostile title
stays text, and the browser logs no console error. Screenshots: out/test-artifacts/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.conftest import ROOT, run_preserve
from tests.helpers import CHROMIUM_FLAGS, EXAMPLE, copy_analysis
from tests.serve.conftest import TOKEN, Service, submission

pytestmark = [pytest.mark.docker, pytest.mark.slow]
ARTIFACTS = ROOT / "out" / "test-artifacts"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> Tricky title'
FLAGS = [*CHROMIUM_FLAGS, "--window-size=1280,1400"]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=ChromeService("/usr/bin/chromedriver"))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    assert driver.save_screenshot(str(path))
    return path


def console_errors(driver: webdriver.Chrome) -> list[dict[str, object]]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def test_catalogue_in_chromium(
    tmp_path: Path,
    base_image: str,
    demo_data_server: str,
    service: Service,
    browser: webdriver.Chrome,
    catalogue_db: str,
) -> None:
    db = catalogue_db.split(":", 1)[0]
    env = {"PRESERVE_CATALOGUE_URL": service.url, "PRESERVE_CATALOGUE_TOKEN": TOKEN}
    analysis = copy_analysis(EXAMPLE, tmp_path / "azimuthal-integration")
    crate = tmp_path / "crate"
    assert run_preserve("capture", str(analysis), "-o", str(crate), env=env).returncode == 0
    proc = run_preserve("publish", str(crate), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    published = json.loads(proc.stdout)
    doi = published["doi"]
    assert published["url"] == f"{service.url}/doi/{doi}"  # the catalogue is the landing page
    assert TOKEN not in proc.stdout + proc.stderr
    assert service.submit(submission(tmp_path, "hostile", title=HOSTILE)).status_code == 201

    browser.get(service.url)
    assert "2 functions" in browser.find_element(By.ID, "total").text
    titles = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "li.function h2 a")]
    assert "Azimuthal integration of powder diffraction frames" in titles
    assert HOSTILE in titles  # shown as text, never run
    screenshot(browser, f"catalogue-{db}")

    search = browser.find_element(By.NAME, "q")
    search.send_keys("azimuthal powder", Keys.ENTER)
    assert "1 function matching" in browser.find_element(By.ID, "total").text
    [result] = browser.find_elements(By.CSS_SELECTOR, "li.function")
    commands = [c.text for c in result.find_elements(By.CSS_SELECTOR, ".command code")]
    assert f"preserve rerun {doi}" in commands
    assert f"preserve deploy {doi} --to local" in commands
    assert f"docker pull {published['image_ref']}" not in commands  # local store: no pull
    screenshot(browser, f"search-{db}")

    result.find_element(By.CSS_SELECTOR, "h2 a").click()
    assert browser.current_url == f"{service.url}/doi/{doi}"
    assert browser.find_element(By.ID, "title").text == (
        "Azimuthal integration of powder diffraction frames"
    )
    assert browser.find_element(By.ID, "crate-ref").text == published["crate_ref"]
    assert browser.find_element(By.ID, "image-ref").text == published["image_ref"]
    page = browser.find_element(By.TAG_NAME, "body").text
    for output in ("profile.csv", "profile.h5"):
        digest = json.loads((crate / "ro-crate-metadata.json").read_text())
        sha = next(e["sha256"] for e in digest["@graph"] if e["@id"] == f"outputs/{output}")
        assert sha in page
    assert f"preserve rerun {doi}" in page
    assert "sandbox DOI" in page and "Example, A. (2026)." in page
    browser.find_element(By.CSS_SELECTOR, "button.copy").click()
    screenshot(browser, f"landing-{db}")

    browser.get(f"{service.url}/doi/10.5072/preserve.hostile")
    assert browser.find_element(By.ID, "title").text == HOSTILE
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 -- no script of the title ran
    screenshot(browser, f"hostile-{db}")
    assert console_errors(browser) == []
