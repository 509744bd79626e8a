#!/usr/bin/env python3
"""The web desk in a real headless Chromium, driven by Playwright.

Run by tests/web_desk.rs, which starts `agentphone run` and the SIP peers.
The two talk over a line protocol: this script prints `STEP NAME` when it
needs the harness (start a caller, check the wire, impair the relay) and
waits for `GO` (or `FAIL reason`) on stdin. Every assertion is on what the
agent sees (the DOM); exit 0 only when all held.

    desk.py call  --url URL --screenshot PNG
    desk.py edges --url URL --token TOKEN
"""

import argparse
import re
import sys
import time

from playwright.sync_api import expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
WAIT = 15_000  # ms for anything the desk does on the network


def step(name):
    print(f"STEP {name}", flush=True)
    line = sys.stdin.readline().strip()
    if line != "GO":
        raise AssertionError(f"the harness answered {line!r} at step {name}")


def log(text):
    print(f"desk.py: {text}", file=sys.stderr, flush=True)


def button(scope, name):
    return scope.get_by_role("button", name=name, exact=True)


def panel_of(page, peer_part):
    return page.locator(".panel").filter(has=page.locator("h3", has_text=peer_part))


def check_no_horizontal_scroll(page, width):
    page.set_viewport_size({"width": width, "height": 800})
    page.wait_for_timeout(300)
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width + 1, f"at {width} px wide the page scrolls sideways ({scroll} px)"


def call_scenario(page, url, screenshot):
    """Offer with variables and a masked number, accept, hold (End disabled,
    the forced hang-up refused with R-HOLD-3), consult a number typed with
    spaces and dashes, conference, leave, wrap-up."""
    page.goto(url)
    expect(page.locator("#desk")).to_be_visible(timeout=WAIT)
    assert "login=" not in page.url, f"the login code stays in the address bar: {page.url}"
    expect(page.locator("#agent-summary")).to_have_text("Available", timeout=WAIT)

    step("call-me")
    offer = page.locator(".offer").first
    expect(offer).to_be_visible(timeout=WAIT)
    caller = offer.locator(".caller").inner_text()
    log(f"offer from {caller!r}")
    assert re.fullmatch(r"\*+8642", caller), f"the caller should show only its last four digits: {caller!r}"
    variables = offer.locator(".vars")
    expect(variables).to_contain_text("Account")
    expect(variables).to_contain_text("AC-20931")
    expect(variables).to_contain_text("Queue")
    expect(variables).to_contain_text("Billing")
    body = page.locator("body").inner_text()
    assert "4711" not in body and "Pin" not in body, "a secure variable reached the page"
    assert "3314286" not in body, "the caller's full number reached the page"
    expect(offer.locator(".countdown")).to_have_text(re.compile(r"^0:[0-5]\d$"))
    first = offer.locator(".countdown").inner_text()
    page.wait_for_timeout(1500)
    assert offer.locator(".countdown").inner_text() != first, "the ring countdown does not run"
    expect(page.locator("#task-list")).to_contain_text("ringing")
    # Logging out with an offer on screen is refused, and the page says why.
    button(page, "Log out").click()
    expect(page.locator("#notice")).to_contain_text("R-OFFER-3", timeout=WAIT)
    expect(offer).to_be_visible()

    offer.get_by_role("button", name=re.compile("^Accept the call")).click()
    expect(page.locator(".offer")).to_have_count(0, timeout=WAIT)
    customer = page.locator(".panel").first
    expect(customer.locator(".state")).to_have_text("connected", timeout=WAIT)
    expect(customer.locator(".vars")).to_contain_text("AC-20931")
    t0 = customer.locator(".timer").inner_text()
    page.wait_for_timeout(1500)
    assert customer.locator(".timer").inner_text() != t0, "the call timer does not run"

    # Hold: the held state next to the timer, End disabled (R-HOLD-3).
    button(customer, "Hold").click()
    expect(customer.locator(".clock .held")).to_have_text("On hold", timeout=WAIT)
    expect(button(customer, "End")).to_be_disabled()
    expect(button(customer, "Hold")).to_be_disabled()
    # Forced anyway, from the keyboard: the desk refuses and the page says why.
    page.keyboard.press("Alt+e")
    expect(page.locator("#notice")).to_contain_text("R-HOLD-3", timeout=WAIT)
    log(f"refusal shown: {page.locator('#notice').inner_text()!r}")
    call_id = int(customer.get_attribute("data-call"))
    forced = page.evaluate(
        """async (call) => {
            const r = await fetch('/api/v1/command', {method: 'POST',
                headers: {'Content-Type': 'application/json'},
                body: JSON.stringify({cmd: 'hangup', call})});
            return [r.status, await r.json()];
        }""",
        call_id,
    )
    assert forced[0] == 409 and forced[1].get("rule") == "R-HOLD-3", f"forced hang-up: {forced}"
    expect(customer.locator(".state")).to_have_text("on hold")
    step("held")

    button(customer, "Resume").click()
    expect(customer.locator(".state")).to_have_text("connected", timeout=WAIT)
    expect(customer.locator(".clock .held")).to_be_hidden()
    expect(button(customer, "End")).to_be_enabled()

    # Consult: R-CONS-3 checked as the agent types.
    field = customer.get_by_label("Consult or transfer to")
    field.fill("12")
    expect(customer.locator(".check")).to_contain_text("R-CONS-3")
    expect(button(customer, "Consult")).to_be_disabled()
    field.fill("")
    field.press_sequentially("+1 201-555 0123", delay=20)
    expect(customer.locator(".check")).to_have_text("Will dial +12015550123")
    expect(button(customer, "Consult")).to_be_enabled()
    button(customer, "Consult").click()
    consult = panel_of(page, "+12015550123")
    expect(consult.locator(".state")).to_have_text("consulting", timeout=WAIT)
    expect(customer.locator(".state")).to_have_text("on hold")
    expect(button(consult, "End consult")).to_be_enabled()
    expect(button(customer, "Transfer to consultee")).to_be_enabled()

    # Conference, then Leave where Transfer was (R-CONF-3).
    button(customer, "Conference").click()
    expect(customer.locator(".state")).to_have_text("conference", timeout=WAIT)
    expect(consult.locator(".state")).to_have_text("conference", timeout=WAIT)
    expect(button(customer, "Leave")).to_be_visible()
    expect(button(customer, "Leave")).to_be_enabled()
    expect(customer.get_by_role("button", name=re.compile("transfer", re.I))).to_have_count(0)
    expect(button(consult, "Remove")).to_be_visible()
    roster = page.locator("#roster")
    expect(roster).to_be_visible()
    expect(roster).to_contain_text("You")
    expect(roster).to_contain_text("8642")
    expect(roster).to_contain_text("+12015550123")
    # Both far ends play a tone: the roster shows them talking.
    expect(roster.locator(".is-talking")).to_have_count(2, timeout=WAIT)
    expect(customer.locator(".quality")).to_contain_text("Loss")
    page.set_viewport_size({"width": 1280, "height": 720})
    page.wait_for_timeout(600)
    page.screenshot(path=screenshot)
    log(f"screenshot: {screenshot}")

    button(customer, "Leave").click()
    expect(page.locator("#agent-summary")).to_have_text(re.compile("^Wrap-up"), timeout=WAIT)
    wrapup = page.locator("#wrapup")
    expect(wrapup).to_be_visible()
    reasons = wrapup.locator(".reasons")
    expect(reasons).to_contain_text("Sale")
    expect(reasons).to_contain_text("Resolved")
    wrapup.get_by_label("Search reasons").fill("res")
    expect(reasons.locator("li")).to_have_count(1, timeout=WAIT)
    expect(reasons).not_to_contain_text("Sale")
    # Keyboard alone: focus the reason and pick it with the space bar.
    wrapup.get_by_label("Resolved").focus()
    page.keyboard.press("Space")
    expect(wrapup.get_by_label("Resolved")).to_be_checked()
    button(wrapup, "Submit wrap-up").click()
    expect(page.locator("#agent-summary")).to_have_text("Available", timeout=WAIT)
    expect(wrapup).to_be_hidden()
    check_no_horizontal_scroll(page, 420)
    page.set_viewport_size({"width": 1280, "height": 720})
    step("done")


def edges_scenario(browser, url, token):
    """A wrong token refused, sign-in with the token, a ring timeout to idle
    with the choice offered, answer by keyboard, and the quality warning
    when the relay starts dropping packets."""
    base = url.split("#", 1)[0]
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    page.on("pageerror", lambda e: log(f"page error: {e}"))
    page.goto(base)
    signin = page.locator("#signin")
    expect(signin).to_be_visible(timeout=WAIT)
    page.get_by_label("API token").fill("not-the-token")
    button(page, "Sign in").click()
    expect(page.locator("#signin-error")).to_contain_text("Wrong token", timeout=WAIT)
    expect(page.locator("#desk")).to_be_hidden()
    status = page.evaluate("async () => (await fetch('/api/v1/status')).status")
    assert status == 401, f"after a wrong token the API answers {status}"
    page.get_by_label("API token").fill(token)
    page.get_by_label("API token").press("Enter")
    expect(page.locator("#desk")).to_be_visible(timeout=WAIT)
    expect(page.locator("#agent-summary")).to_have_text("Available", timeout=WAIT)
    assert token not in page.url

    # The printed link signs one browser in; the same link again gets the form.
    for attempt in ("first", "again"):
        other = browser.new_context()
        second = other.new_page()
        second.goto(url)
        if attempt == "first":
            expect(second.locator("#desk")).to_be_visible(timeout=WAIT)
            assert "login=" not in second.url, second.url
        else:
            expect(second.locator("#signin")).to_be_visible(timeout=WAIT)
            expect(second.locator("#signin-error")).to_contain_text("already used")
        other.close()

    step("ring")
    offer = page.locator(".offer").first
    expect(offer).to_be_visible(timeout=WAIT)
    expect(page.locator(".offer")).to_have_count(0, timeout=WAIT)
    prompt = page.locator("#prompt")
    expect(prompt).to_be_visible(timeout=WAIT)
    expect(prompt).to_contain_text("R-OFFER-2")
    expect(page.locator("#agent-summary")).to_have_text("Idle: Missed call")
    expect(button(prompt, "Stay idle (Missed call)")).to_be_visible()
    button(prompt, "Become available").click()
    expect(page.locator("#agent-summary")).to_have_text("Available", timeout=WAIT)
    expect(prompt).to_be_hidden()
    step("rang")

    step("quality-call")
    expect(page.locator(".offer")).to_have_count(1, timeout=WAIT)
    page.keyboard.press("Alt+a")
    panel = page.locator(".panel").first
    expect(panel.locator(".state")).to_have_text("connected", timeout=WAIT)
    quality = panel.locator(".quality")
    expect(quality).to_contain_text("Loss 0.0 %", timeout=WAIT)
    # Recording pause with its countdown (R-REC-2), then resumed.
    button(panel, "Pause recording").click()
    expect(button(panel, "Resume recording")).to_be_visible(timeout=WAIT)
    expect(panel.locator(".record-left")).to_have_text(re.compile(r"resumes by itself in 0:[0-3]\d"))
    button(panel, "Resume recording").click()
    expect(button(panel, "Pause recording")).to_be_visible(timeout=WAIT)
    expect(panel.locator(".record-left")).to_have_text("")
    page.wait_for_timeout(2000)
    expect(quality.locator(".quality-warning")).to_be_hidden()
    step("loss")
    started = time.monotonic()
    expect(quality.locator(".quality-warning")).to_be_visible(timeout=25_000)
    log(f"quality warning after {time.monotonic() - started:.1f} s: "
        f"{quality.locator('.quality-warning').inner_text()!r}")
    expect(quality.locator(".quality-warning")).to_contain_text("loss")
    page.keyboard.press("Alt+m")
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "true", timeout=WAIT)
    page.keyboard.press("Alt+e")
    expect(page.locator(".panel")).to_have_count(0, timeout=WAIT)
    step("done")
    context.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=["call", "edges"])
    ap.add_argument("--url", required=True)
    ap.add_argument("--token")
    ap.add_argument("--screenshot")
    ap.add_argument("--failure-shot", help="where to save the page when an assertion fails")
    args = ap.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = None
        try:
            if args.scenario == "call":
                context = browser.new_context(viewport={"width": 1280, "height": 720})
                page = context.new_page()
                page.on("console", lambda m: log(f"console {m.type}: {m.text}"))
                page.on("pageerror", lambda e: log(f"page error: {e}"))
                call_scenario(page, args.url, args.screenshot)
            else:
                edges_scenario(browser, args.url, args.token)
        except Exception as e:  # report what the page showed, then fail
            log(f"FAILED: {type(e).__name__}: {e}")
            for ctx in browser.contexts:
                for pg in ctx.pages:
                    try:
                        log("page text:\n" + pg.locator("body").inner_text())
                        if args.failure_shot:
                            pg.screenshot(path=args.failure_shot)
                    except Exception:
                        pass
            print("FAILED", flush=True)
            sys.exit(1)
        finally:
            browser.close()
    print("PASSED", flush=True)


if __name__ == "__main__":
    main()
