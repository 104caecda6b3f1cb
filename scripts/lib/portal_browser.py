"""The portal in headless Chromium (Selenium), for scripts/portal-check.

Each check is a function; all run in order (later ones rely on the state earlier ones
leave: signed in, a downloaded policy). A failing check is reported with its message
and the rest still run where they can. Screenshots of every page go to $PORTAL_OUT.
Ends with a cargo-style `test result:` line (scripts/test sums those lines).
"""

import os
import re
import subprocess
import sys
import time
import traceback

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

URL = os.environ["PORTAL_URL"]
HOST = os.environ["PORTAL_HOST"]
OUT = os.environ["PORTAL_OUT"]
DOWNLOADS = os.environ["PORTAL_DOWNLOADS"]
STABLE = (os.environ["STABLE_EMAIL"], os.environ["STABLE_ID"])
EXPIRED = (os.environ["EXPIRED_EMAIL"], os.environ["EXPIRED_ID"])
REVOKED = (os.environ["REVOKED_EMAIL"], os.environ["REVOKED_ID"])
IMAGE = f"{HOST}/proxy/acme/registry.vendor.test/acme/platform/operator"
POLICY_FILE = "acme-v1.2.0-release.toml"
# How long to wait for the next page after a form is sent (a wait, not an assertion).
PAGE_WAIT_SECS = 30
# How long to wait for a file download to land (a poll, not a timed assertion:
# the check only fails if the file never appears).
DOWNLOAD_WAIT_SECS = 30


def browser():
    options = Options()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,900"):
        options.add_argument(arg)
    # The proxy's certificate is from the check's own CA; the browser is told to accept
    # it rather than have the CA installed system-wide.
    options.accept_insecure_certs = True
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": DOWNLOADS, "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(
        options=options,
        service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")),
    )
    driver.set_page_load_timeout(60)
    return driver


def shot(driver, name):
    """A full-page screenshot: the window is made as tall as the page first."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1200, max(600, min(height + 40, 6000)))
    driver.save_screenshot(os.path.join(OUT, f"{name}.png"))
    driver.set_window_size(1200, 900)


def sign_in(driver, email, license_id, prefilled=False):
    """Fills in and sends the sign-in form; `prefilled`: the page shown already has it."""
    if not prefilled:
        driver.get(URL)
    field = driver.find_element(By.ID, "email")
    if not prefilled:
        field.clear()
        field.send_keys(email)
    driver.find_element(By.ID, "license_id").send_keys(license_id)
    submit(driver, "form[action='/portal/sign-in'] button")


def sign_out(driver):
    submit(driver, "form[action='/portal/sign-out'] button")


def submit(driver, button_css):
    """Clicks a form's button and waits until the page it was on is gone."""
    button = driver.find_element(By.CSS_SELECTOR, button_css)
    button.click()
    WebDriverWait(driver, PAGE_WAIT_SECS).until(expected_conditions.staleness_of(button))


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def text(driver):
    return driver.find_element(By.TAG_NAME, "body").text


def signs_in_with_the_prefilled_email_and_sees_stable_versions_only(driver):
    driver.get(URL + "?email=" + STABLE[0].replace("@", "%40"))
    check(driver.find_element(By.ID, "email").get_attribute("value") == STABLE[0],
          "the sign-in link's email is not filled in")
    check(driver.find_element(By.CSS_SELECTOR, "label[for=license_id]").text == "License ID",
          "the license ID field has no label")
    shot(driver, "01-sign-in")
    sign_in(driver, *STABLE, prefilled=True)
    check(driver.current_url.endswith("/portal/license"), f"landed on {driver.current_url}")
    body = text(driver)
    check("Channel stable" in body, "no stable channel")
    check("Version v1.2.0" in body, "stable's v1.2.0 is not listed")
    check("v1.3.0" not in body and "beta" not in body, "the beta version is shown to a stable-only license")
    check(f"{IMAGE}:v1.2.0" in body, f"no image reference {IMAGE}:v1.2.0")
    check(re.search(r"sha256:[0-9a-f]{64}", body), "no current digest shown")
    check(re.search(r"Your license expires on .*, in (19|20) days", body),
          "no banner for a license expiring within 30 days")
    check(STABLE[1] not in driver.page_source, "the license ID is on the page after sign-in")
    check(STABLE[1] not in driver.current_url, "the license ID is in the URL")
    for expected in ("vouch login", "docker login", "vouch verify-release", "cosign verify",
                     "cosign verify-attestation --type spdxjson"):
        check(expected in body, f"no `{expected}` command")
    cookies = {c["name"]: c for c in driver.get_cookies()}
    session = cookies.get("vouch_portal")
    check(session is not None, "no session cookie")
    check(session["httpOnly"] and session["secure"] and session["sameSite"] == "Strict",
          f"session cookie attributes: {session}")
    h1 = driver.find_elements(By.TAG_NAME, "h1")
    check(len(h1) == 1 and h1[0].text.startswith("License"), "the page has no single h1")
    logo = driver.find_element(By.CSS_SELECTOR, "header img.logo")
    check(logo.get_attribute("alt") == "Acme Platform logo", "the logo has no alt text")
    check(driver.execute_script("return arguments[0].naturalWidth", logo) > 0, "the logo does not load")
    shot(driver, "02-license")
    # The top of the page at a narrower width, for docs/images (small once quantized).
    driver.set_window_size(1000, 1300)
    driver.save_screenshot(os.path.join(OUT, "02-license-top.png"))
    driver.set_window_size(1200, 900)


def downloads_the_policy_and_verify_release_accepts_it(driver):
    link = driver.find_element(By.PARTIAL_LINK_TEXT, "Download the release policy")
    link.click()
    path = os.path.join(DOWNLOADS, POLICY_FILE)
    deadline = time.monotonic() + DOWNLOAD_WAIT_SECS
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.1)
    check(os.path.exists(path), f"{POLICY_FILE} was not downloaded (have {os.listdir(DOWNLOADS)})")
    policy = open(path).read()
    check(f'registry = "{HOST}/proxy/acme/registry.vendor.test/acme/platform"' in policy,
          f"the policy's registry is not the proxy path:\n{policy}")
    env = dict(os.environ, HOME=os.environ["VERIFY_HOME"], SSL_CERT_FILE=os.environ["CA_FILE"],
               DOCKER_CONFIG=os.path.join(os.environ["VERIFY_HOME"], ".docker"))
    vouch = os.environ["VOUCH_BIN"]
    login = subprocess.run([vouch, "login", HOST, "-u", STABLE[0], "--password-stdin"],
                           input=STABLE[1] + "\n", text=True, capture_output=True, env=env)
    check(login.returncode == 0, f"vouch login: {login.returncode}\n{login.stderr}")
    verify = subprocess.run([vouch, "verify-release", "--policy", path, "--version", "v1.2.0",
                             "--trusted-root", os.environ["TRUSTED_ROOT"]],
                            text=True, capture_output=True, env=env)
    check(verify.returncode == 0,
          f"vouch verify-release with the downloaded policy: exit {verify.returncode}\n"
          f"{verify.stdout}\n{verify.stderr}")
    check(verify.stdout.count(" OK") >= 11, f"fewer than 11 images OK:\n{verify.stdout}")
    with open(os.path.join(OUT, "verify-release.txt"), "w") as f:
        f.write(verify.stdout)


def signs_out_and_the_license_page_is_gone(driver):
    sign_out(driver)
    check("You are signed out." in text(driver), "no signed-out notice")
    shot(driver, "03-signed-out")
    driver.get(URL + "license")
    check(driver.find_elements(By.ID, "license_id"), "the license page is shown after sign-out")
    check("Channel stable" not in text(driver), "license details after sign-out")


def a_wrong_license_id_is_refused(driver):
    sign_in(driver, STABLE[0], "vpl_00000000000000000000000000000000")
    check("do not match a license" in text(driver), "no error for a wrong license ID")
    check(not driver.current_url.endswith("/portal/license"), "signed in with a wrong ID")


def an_expired_license_sees_the_banner_and_no_images(driver):
    sign_in(driver, *EXPIRED)
    body = text(driver)
    check("Your license expired on 2020-01-01" in body, "no expiry banner")
    check(driver.find_elements(By.CSS_SELECTOR, "[role=alert]"), "the banner is not an alert")
    check(not driver.find_elements(By.TAG_NAME, "table"), "an expired license sees an image list")
    check("sha256:" not in body and "docker login" not in body, "an expired license sees digests or commands")
    shot(driver, "04-expired")
    sign_out(driver)


def a_license_revoked_after_sign_in_is_signed_out(driver):
    sign_in(driver, *REVOKED)
    check("Channel stable" in text(driver), "the license to revoke did not sign in")
    revoke = subprocess.run([os.environ["VOUCH_PROXY_BIN"], "license", "revoke",
                             os.environ["REVOKED_NUMBER"]], capture_output=True, text=True)
    check(revoke.returncode == 0, f"license revoke: {revoke.stderr}")
    driver.get(URL + "license")
    body = text(driver)
    check("Your license was revoked, so you were signed out." in body, f"not signed out:\n{body}")
    check(not [c for c in driver.get_cookies() if c["name"] == "vouch_portal"],
          "the session cookie is still set")


def no_license_id_is_logged(_driver):
    log = open(os.environ["PROXY_LOG"]).read()
    for _, license_id in (STABLE, EXPIRED, REVOKED):
        check(license_id not in log, "a license ID is in the proxy's log")


CHECKS = [
    signs_in_with_the_prefilled_email_and_sees_stable_versions_only,
    downloads_the_policy_and_verify_release_accepts_it,
    signs_out_and_the_license_page_is_gone,
    a_wrong_license_id_is_refused,
    an_expired_license_sees_the_banner_and_no_images,
    a_license_revoked_after_sign_in_is_signed_out,
    no_license_id_is_logged,
]


def main():
    passed = failed = 0
    driver = browser()
    try:
        for fn in CHECKS:
            try:
                fn(driver)
                passed += 1
                print(f"portal {fn.__name__} ... ok")
            except Exception:
                failed += 1
                print(f"portal {fn.__name__} ... FAILED")
                traceback.print_exc()
                try:
                    shot(driver, f"failed-{fn.__name__}")
                except Exception:
                    pass
    finally:
        driver.quit()
    verdict = "ok" if failed == 0 else "FAILED"
    print(f"test result: {verdict}. {passed} passed; {failed} failed; 0 ignored; 0 measured; 0 filtered out")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
