"""The web UI in a real browser (Playwright driving Debian's chromium) against `arena serve`:
a participant registers, accepts the rules, uploads an example, watches it reach `scored`
without reloading, marks it final, and the row is on the public leaderboard while logged out;
an organizer creates (after a rejected file), uploads the dataset, prepares and opens a small
competition. Screenshots of every page go to test-artifacts/screenshots/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from core.bundle import Bundle, read_folder
from harness.platform import ROOT, running_platform, tiny_config, wait_for_competition
from harness.scenario import create_competition_in
from tests.organizer_flow import competition_yaml, dataset_npz, tiny_bundle

pytestmark = pytest.mark.e2e
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("ARENA_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"chromium not found at {CHROMIUM}: `make system` installs Debian's chromium "
            "(apt-get install chromium), or set ARENA_TEST_CHROMIUM"
        )
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui")
    var = tmp / "var"
    var.mkdir()
    # a browser shares the CPU with the runs: a roomy budget so retrain never runs over it
    create_competition_in(
        f"sqlite:///{var / 'arena.db'}", tiny_config("tiny-ui", budget_floor_seconds=10.0)
    )
    env = {"ARENA_VAR_DIR": str(var)}
    with running_platform(env, tmp / "serve.log") as url:
        wait_for_competition(url, "tiny-ui")
        yield url, var, tmp


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_participant_uploads_watches_and_appears_on_the_public_board(browser, platform):
    url, _, _ = platform
    page = browser.new_page(base_url=url)
    page.goto("/")
    expect(page.get_by_role("link", name="Tiny test competition")).to_be_visible()
    shot(page, "01-home")

    page.get_by_role("link", name="Register").click()
    page.get_by_label("Username").fill("uma")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Register").click()  # the browser refuses it: minlength
    expect(page).to_have_url(f"{url}/register")
    page.get_by_label("Password").fill("a-long-password")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("button", name="Log out uma")).to_be_visible()
    expect(page.get_by_role("link", name="Organize", exact=True)).to_have_count(0)  # a participant

    page.get_by_role("link", name="How scoring works").click()
    expect(
        page.get_by_role("heading", name="How a submission is scored, in plain words")
    ).to_be_visible()
    figure = page.locator("article.metric img")
    expect(figure).to_have_attribute("src", "/metric/h_of_epsilon.svg")
    assert page.evaluate("document.querySelector('article.metric img').naturalWidth") > 0

    page.goto("/c/tiny-ui")
    expect(page.get_by_role("heading", name="Tiny test competition")).to_be_visible()
    expect(page.get_by_text("Split sizes")).to_be_visible()
    clock = page.locator("dt", has_text="Clock").locator("xpath=following-sibling::dd[1]")
    expect(clock).to_contain_text("CPU time")  # which clock, beside the budget
    expect(clock).to_contain_text("from your file's import on")
    shot(page, "02-competition")
    page.get_by_role("button", name="I accept the rules").click()
    expect(page).to_have_url(f"{url}/c/tiny-ui/submit")
    expect(page.locator("#remaining")).to_have_text("10")

    # a wrong file is rejected inline, nothing stored
    page.set_input_files(
        "#file",
        files=[
            {
                "name": "bad.py",
                "mimeType": "text/x-python",
                "buffer": b"def forget(net):\n    return net\n",
            }
        ],
    )
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("#upload-error")).to_contain_text("does not define")
    shot(page, "03-submit-rejected")

    page.set_input_files("#file", str(ROOT / "examples" / "retrain.py"))
    page.get_by_label("Message").fill("retrain from scratch, the reference")
    page.get_by_label("Paper or code link").fill("https://example.org/retrain")
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url("**/s/*")
    expect(page.locator("#note")).to_contain_text("retrain from scratch, the reference")
    expect(page.get_by_role("link", name="paper or code")).to_have_attribute(
        "href", "https://example.org/retrain"
    )
    shot(page, "04-submission-queued")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    expect(page.locator("#status")).to_have_text("scored", timeout=240_000)  # live, no reload
    assert navigations == []
    expect(page.get_by_text("Forgetting quality F")).to_be_visible()
    expect(page.locator("svg.chart").first).to_be_visible()
    expect(page.locator("#diagnostic")).to_contain_text("Diagnostic run on public data")
    expect(page.locator("#diagnostic")).to_contain_text("finished")
    shot(page, "05-submission-scored")
    page.get_by_role("button", name="Mark as final").click()
    expect(page.get_by_role("button", name="Unmark as final")).to_be_visible()

    page.goto("/c/tiny-ui/submissions")
    expect(page.get_by_text("★ final")).to_be_visible()
    expect(page.locator("td.message")).to_have_text("retrain from scratch, the reference")
    shot(page, "06-my-submissions")
    page.goto("/c/tiny-ui/leaderboard")  # logged in: one's own row stands out
    own = page.locator("table.board tr.mine")
    expect(own).to_have_count(1)
    expect(own).to_contain_text("uma")
    expect(own.locator(".badge.you")).to_have_text("you")

    page.goto("/account/tokens")
    expect(page).to_have_title("API tokens · Unlearning Arena")
    expect(page.get_by_text("this browser")).to_be_visible()
    shot(page, "07-tokens")
    page.get_by_label("Current password").fill("not-the-password")
    page.get_by_label("New password").fill("a-longer-password")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("current password is wrong")
    page.get_by_label("Current password").fill("a-long-password")
    page.get_by_label("New password").fill("a-longer-password")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_contain_text("Password changed")
    expect(page.get_by_role("button", name="Log out uma")).to_be_visible()  # still logged in
    page.get_by_role("button", name="Log out uma").click()

    page.goto("/c/tiny-ui/leaderboard")  # logged out
    expect(page.get_by_role("button", name="Log in")).to_have_count(0)
    row = page.locator("table.board tbody tr", has_text="uma")
    expect(row).to_have_count(1)
    expect(page.locator("tr.reference")).to_have_count(2)
    expect(page.get_by_role("link", name="Private")).to_have_count(0)
    shot(page, "08-leaderboard-public")
    page.set_viewport_size({"width": 390, "height": 844})  # phone width
    page.reload()
    shot(page, "09-leaderboard-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the page is {width} px wide at phone width"
    page.keyboard.press("Tab")  # keyboard: the first stop is the skip link
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.close()


def _register(browser, url: str, name: str) -> Page:
    page = browser.new_context(base_url=url).new_page()
    page.goto("/register")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill("a-long-password")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("button", name=f"Log out {name}")).to_be_visible()
    return page


def test_a_team_is_made_on_its_page(browser, platform):
    url, _, _ = platform
    tara, tom = _register(browser, url, "tara"), _register(browser, url, "tom")
    tara.goto("/c/tiny-ui")
    tara.get_by_role("link", name="Team", exact=True).click()
    expect(tara.get_by_text("You compete alone")).to_be_visible()
    tara.get_by_label("Team name").fill("tide")
    tara.get_by_role("button", name="Create the team").click()
    expect(tara.get_by_role("status")).to_have_text("Team 'tide' created.")
    expect(tara.locator("#members li")).to_have_text(["tara"])
    tara.get_by_label("Invite a participant").fill("ghost")
    tara.get_by_role("button", name="Invite").click()
    expect(tara.get_by_role("alert")).to_contain_text("No user 'ghost'")
    tara.get_by_label("Invite a participant").fill("tom")
    tara.get_by_role("button", name="Invite").click()
    expect(tara.get_by_role("status")).to_contain_text("'tom' is invited")
    expect(tara.get_by_text("Invited, not yet joined: tom")).to_be_visible()
    shot(tara, "10-team")

    tom.goto("/c/tiny-ui/team")
    expect(tom.locator("#invitations")).to_contain_text("tide (tara)")
    tom.get_by_role("button", name="Join tide").click()
    expect(tom.get_by_role("status")).to_have_text("You joined 'tide'.")
    expect(tom.locator("#members li")).to_have_text(["tara", "tom"])
    tom.get_by_role("button", name="Leave tide").click()
    expect(tom.get_by_role("status")).to_have_text("You left the team.")
    expect(tom.get_by_text("You compete alone")).to_be_visible()
    tara.reload()
    expect(tara.locator("#members li")).to_have_text(["tara"])
    tara.context.close()
    tom.context.close()


def test_organizer_creates_prepares_and_opens_a_competition(browser, platform, tmp_path):
    url, var, _ = platform
    env = {**os.environ, "ARENA_VAR_DIR": str(var), "ARENA_PASSWORD": "organizer-pass"}
    subprocess.run(
        [
            str(Path(sys.executable).parent / "arena"),
            "admin",
            "create-user",
            "olga",
            "--role",
            "organizer",
        ],
        env=env,
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    page = browser.new_page(base_url=url)
    page.goto("/login?next=/organize")
    page.get_by_label("Username").fill("olga")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
    page.get_by_label("Password").fill("organizer-pass")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{url}/organize")
    expect(page.get_by_role("link", name="Organize", exact=True)).to_be_visible()  # an organizer

    bad = competition_yaml("ui-grouped").replace("hidden: 16", "hiden: 16")
    page.get_by_label("Competition file (YAML)").fill(bad)
    page.get_by_role("button", name="Create (as draft)").click()
    bad_line = page.locator("ol.listing li.bad")
    expect(bad_line).to_contain_text("hiden")
    expect(bad_line).to_contain_text("is not a known setting")
    shot(page, "10-organizer-create-rejected")
    page.get_by_label("Competition file (YAML)").fill(competition_yaml("ui-grouped"))
    page.get_by_role("button", name="Create (as draft)").click()
    expect(page).to_have_url(f"{url}/organize/ui-grouped")
    expect(page.locator("#comp-status")).to_have_text("draft")

    data = tmp_path / "data.npz"
    data.write_bytes(dataset_npz())
    page.set_input_files("#dataset-file", str(data))
    page.get_by_role("button", name="Upload dataset").click()
    expect(page.get_by_text("Split sizes")).to_be_visible(timeout=30_000)
    shot(page, "11-organizer-dataset")
    page.get_by_role("button", name="Prepare").click()
    expect(page.locator("#comp-status")).to_have_text("preparing")
    shot(page, "12-organizer-preparing")
    expect(page.locator("#comp-status")).to_have_text("ready", timeout=240_000)  # live
    page.get_by_role("button", name="Open").click()
    expect(page.locator("#comp-status")).to_have_text("open")
    expect(page.get_by_text("competition_opened")).to_be_visible()
    page.reload()  # the compute section counts the preparation's device time
    expect(page.locator("#compute-total")).to_contain_text("device-hours in all")
    expect(page.locator("#compute-total")).not_to_contain_text("preparation 0.0 s")
    shot(page, "13-organizer-open")
    page.goto("/")
    expect(page.get_by_role("link", name="Grouped digits")).to_be_visible()

    # a bundle: a broken one lists its problems, the example becomes a draft with pages and a kit
    folder = tiny_bundle(tmp_path)
    broken = dict(read_folder(folder).files)
    broken["model.py"] = b"def build_model(**kw):\n    return 1\n"
    (tmp_path / "broken.zip").write_bytes(Bundle(broken).to_zip())
    (tmp_path / "good.zip").write_bytes(read_folder(folder).to_zip())
    page.goto("/organize")
    page.set_input_files("input[name=file]", str(tmp_path / "broken.zip"))
    page.get_by_role("button", name="Create from bundle (as draft)").click()
    expect(page.locator("#bundle-problems")).to_contain_text("not a torch.nn.Module")
    shot(page, "14-organizer-bundle-rejected")
    page.set_input_files("input[name=file]", str(tmp_path / "good.zip"))
    page.get_by_label("Slug (optional, instead of the file's)").fill("ui-bundle")
    page.get_by_role("button", name="Create from bundle (as draft)").click()
    expect(page).to_have_url(f"{url}/organize/ui-bundle")
    expect(page.get_by_text("Pages: overview, data, evaluation, rules")).to_be_visible()
    page.goto("/c/ui-bundle")
    expect(page.get_by_text("Sixty people wrote the digits")).to_be_visible()  # overview.md
    expect(page.get_by_text("einops==0.8.2 (resolved at preparation)")).to_be_visible()
    page.get_by_role("link", name="Data", exact=True).click()
    expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Data", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    page.get_by_role("link", name="Overview").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the starter kit").click()
    assert download.value.suggested_filename == "ui-bundle-kit.zip"
    shot(page, "15-bundle-competition")
    page.close()
