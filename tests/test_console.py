"""The web console (`facegate serve` with an admin token), driven in headless Chromium through Selenium against a
real service on loopback with the real model. Each test saves a screenshot of the page it checks in the test's
output folder (tmp_path); scripts/screenshots puts current ones in docs/console/."""
import json
import os
import shutil
import signal
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from conftest import DATA, IMAGES, run_facegate
from test_service import ADMIN_TOKEN, VERIFY_TOKEN, call, start_guarded, start_service, stop_service

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WAIT_SECONDS = 60


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    """A service keeping face crops, with a verify token and an admin token; younes enrolled."""
    folder = tmp_path_factory.mktemp("desk")
    base, process = start_guarded(folder, global_options=("--log-faces",))
    yield base, folder / "db"
    stop_service(process, VERIFY_TOKEN, ADMIN_TOKEN)


CAMERA_PERSON = DATA / "lfw-devtrain" / "images" / "Ricardo_Lagos"


def fake_camera(folder):
    """A Y4M video Chromium's fake camera plays in a loop: Ricardo Lagos's second LFW picture on a 640x480 grey
    frame (what a laptop's camera of the enrollment desk would show)."""
    import cv2
    import numpy as np
    from PIL import Image

    frame = np.full((480, 640, 3), 128, np.uint8)
    photo = np.asarray(Image.open(CAMERA_PERSON / "Ricardo_Lagos_0002.jpg").convert("RGB"))
    frame[115:365, 195:445] = photo
    planes = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes()
    path = folder / "camera.y4m"
    path.write_bytes(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n" + (b"FRAME\n" + planes) * 10)
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium (Debian's chromium and chromium-driver; scripts/test installs them), its camera a fake
    one showing a face (fake_camera)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    assert shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER), \
        "scripts/test installs Debian's chromium and chromium-driver (apt)"
    os.environ["SE_AVOID_STATS"] = "true"  # Selenium Manager stays silent: the driver is given, nothing is fetched
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--no-first-run", "--disable-background-networking",
                     "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     f"--use-file-for-fake-video-capture={fake_camera(tmp_path_factory.mktemp('camera'))}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    yield driver
    driver.quit()


def by_css(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def wait_for(driver, condition, message):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.2,
                         ignored_exceptions=(StaleElementReferenceException,)).until(lambda _: condition(), message)


def submit(driver, button, alert=None):
    """Click a form's button (accepting its confirmation when `alert` is "accept") and wait for the next page: a
    new document, fully loaded (the old one is marked before the click)."""
    from selenium.common.exceptions import WebDriverException

    driver.execute_script("window.facegateOldPage = true")
    button.click()
    if alert == "accept":
        driver.switch_to.alert.accept()

    def next_page_loaded():
        try:
            return driver.execute_script("return !window.facegateOldPage && document.readyState === 'complete'")
        except WebDriverException:  # between the two documents
            return False

    wait_for(driver, next_page_loaded, "the form led to no page")


def log_in(driver, base, token=ADMIN_TOKEN):
    driver.delete_all_cookies()
    driver.get(base + "/login")
    by_css(driver, "#token")[0].send_keys(token)
    submit(driver, by_css(driver, "#login-button")[0])


def screenshot(driver, tmp_path, name):
    """The page as it is, into the test's output folder (and into $FACEGATE_SCREENSHOTS: scripts/screenshots)."""
    driver.save_screenshot(str(tmp_path / f"{name}.png"))
    if os.environ.get("FACEGATE_SCREENSHOTS"):
        driver.save_screenshot(os.path.join(os.environ["FACEGATE_SCREENSHOTS"], f"{name}.png"))


def people_names(driver):
    return [cell.text for cell in by_css(driver, "#people .person .name")]


def test_the_admin_token_opens_the_console_and_the_verify_token_does_not(desk, browser, tmp_path):
    base, _ = desk
    browser.delete_all_cookies()
    browser.get(base + "/console/people")
    assert browser.current_url == base + "/login"  # no session: the login form
    log_in(browser, base, VERIFY_TOKEN)
    assert by_css(browser, "#message")[0].text == "this token verifies faces; it cannot open the console"
    assert browser.get_cookie("facegate_session") is None
    screenshot(browser, tmp_path, "login-refused")
    log_in(browser, base, ADMIN_TOKEN + "x")
    assert by_css(browser, "#message")[0].text == "not the admin token"

    log_in(browser, base)
    assert browser.current_url.startswith(base + "/console/log")
    cookie = browser.get_cookie("facegate_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["secure"] is False
    assert "expiry" in cookie  # it expires
    submit(browser, by_css(browser, "#nav-people")[0])
    assert people_names(browser) == ["younes"]
    submit(browser, by_css(browser, ".logout button")[0])
    browser.get(base + "/console/people")
    assert browser.current_url == base + "/login"


def test_guessing_the_admin_token_locks_the_login_out(tmp_path, browser):
    (tmp_path / "admin").write_text(ADMIN_TOKEN + "\n")
    assert run_facegate("--db", tmp_path / "db", "enroll", "younes", IMAGES / "younes.jpg").returncode == 0
    base, process = start_service(tmp_path / "db", "--admin-token-file", tmp_path / "admin", "--max-failures", 3,
                                  "--lockout", 600)
    try:
        for attempt in range(3):
            log_in(browser, base, f"guess-number-{attempt:08d}")
            assert by_css(browser, "#message")[0].text == "not the admin token"
        log_in(browser, base)  # even the right token, while locked out
        assert by_css(browser, "#message")[0].text.startswith("too many wrong tokens from here; try again in ")
        assert browser.get_cookie("facegate_session") is None
    finally:
        stop_service(process, ADMIN_TOKEN)


def test_without_any_token_the_console_is_the_local_users(tmp_path, browser):
    """On loopback without tokens (as the API): the pages open without a login, and a form still needs its CSRF
    token."""
    assert run_facegate("--db", tmp_path / "db", "enroll", "younes", IMAGES / "younes.jpg").returncode == 0
    base, process = start_service(tmp_path / "db")
    try:
        browser.delete_all_cookies()
        browser.get(base + "/")
        assert browser.current_url == base + "/console/log"
        browser.get(base + "/console/people")
        assert people_names(browser) == ["younes"]
        request = urllib.request.Request(base + "/console/people/remove", data=b"name=younes")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 403
        assert call(base + "/health")[1]["people"] == 1
    finally:
        stop_service(process)


def test_behind_a_tls_proxy_the_session_cookie_is_secure(tmp_path):
    """The reverse proxy terminating TLS (serve --trusted-proxy) says so with X-Forwarded-Proto: https, and the
    cookie is then Secure too; from anyone else the header is not believed."""
    (tmp_path / "admin").write_text(ADMIN_TOKEN + "\n")
    (tmp_path / "token").write_text(VERIFY_TOKEN + "\n")  # behind a proxy the network reaches it: tokens only
    assert run_facegate("--db", tmp_path / "db", "enroll", "younes", IMAGES / "younes.jpg").returncode == 0
    proxied, process = start_service(tmp_path / "db", "--admin-token-file", tmp_path / "admin", "--token-file",
                                     tmp_path / "token", "--trusted-proxy", "127.0.0.1", token=VERIFY_TOKEN)
    direct, other = start_service(tmp_path / "db", "--admin-token-file", tmp_path / "admin")

    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None  # the login's answer itself, with its Set-Cookie

    opener = urllib.request.build_opener(Keep)
    try:
        for base, proto, secure in ((proxied, "https", True), (proxied, None, False), (direct, "https", False)):
            headers = {"X-Forwarded-Proto": proto} if proto else {}
            request = urllib.request.Request(base + "/login", headers=headers,
                                             data=urllib.parse.urlencode({"token": ADMIN_TOKEN}).encode())
            with pytest.raises(urllib.error.HTTPError) as answer:
                opener.open(request, timeout=30)
            assert answer.value.code == 302
            cookie = answer.value.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and ("; Secure" in cookie) is secure, \
                (base, proto, cookie)
    finally:
        stop_service(process, ADMIN_TOKEN, VERIFY_TOKEN)
        stop_service(other, ADMIN_TOKEN)


def test_the_pages_take_the_admin_token_as_bearer_and_refuse_without_it(desk):
    base, _ = desk
    request = urllib.request.Request(base + "/console/people", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        page = answer.read().decode()
        policy = answer.headers["Content-Security-Policy"]
    assert "younes" in page and "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "<script>" not in page and "onclick" not in page  # no inline script for the policy to forbid
    for token in (VERIFY_TOKEN, None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(base + "/console/people/remove", data=b"name=younes", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 401
    assert call(base + "/people", token=ADMIN_TOKEN)[1]["people"] == [{"name": "younes", "photos": 1}]


def test_live_views_never_take_the_threads_the_doors_need(desk):
    """Each live view holds one of the service's threads: two at most (a third is refused, 503), and a door's
    verify is answered while they are open; a view closed frees its place."""
    base, _ = desk

    def live_view():
        request = urllib.request.Request(base + "/console/events", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        answer = urllib.request.urlopen(request, timeout=30)
        assert answer.readline() == b"retry: 1000\n"
        return answer

    views = [live_view(), live_view()]
    with pytest.raises(urllib.error.HTTPError) as refused:
        live_view()
    assert refused.value.code == 503
    status, answer = call(base + "/verify?name=younes", (IMAGES / "camera_0.jpg").read_bytes(), token=VERIFY_TOKEN)
    assert status == 200 and answer["match"] is True
    views.pop().close()
    deadline = time.monotonic() + 30
    while True:  # the service notices the closed view at its next keep-alive (every 0.5 s)
        try:
            views.append(live_view())
            break
        except urllib.error.HTTPError as error:
            assert error.code == 503 and time.monotonic() < deadline
            time.sleep(0.2)
    for view in views:
        view.close()


def test_enrolling_by_upload_shows_each_refused_photo_with_its_reason(desk, browser, tmp_path):
    base, db = desk
    log_in(browser, base)
    browser.get(base + "/console/people")
    by_css(browser, "#enroll-name")[0].send_keys("dan")
    by_css(browser, "#enroll-photos")[0].send_keys("\n".join(str(p) for p in (IMAGES / "dan.jpg",
                                                                              DATA / "negatives" / "rocket.jpg")))
    submit(browser, by_css(browser, "#enroll-button")[0])
    assert "rocket.jpg: no face found" in [p.text for p in by_css(browser, ".refused")]
    assert "dan: 1 photo(s) enrolled" in [p.text for p in by_css(browser, ".note")]
    assert people_names(browser) == ["dan", "younes"]
    for row in by_css(browser, "#people .person"):  # each with the face crop kept at enrollment
        image = row.find_element("css selector", ".thumbnail img")
        wait_for(browser, lambda: browser.execute_script("return arguments[0].naturalWidth", image) > 0,
                 "no thumbnail")
    screenshot(browser, tmp_path, "people")

    by_css(browser, "#enroll-name")[0].send_keys("rocket")
    by_css(browser, "#enroll-photos")[0].send_keys(str(DATA / "negatives" / "rocket.jpg"))
    submit(browser, by_css(browser, "#enroll-button")[0])
    assert [p.text for p in by_css(browser, ".refused")] == ["rocket.jpg: no face found", "nothing enrolled for rocket"]
    assert people_names(browser) == ["dan", "younes"]
    status, answer = call(base + "/verify?name=dan", (IMAGES / "dan.jpg").read_bytes(), token=VERIFY_TOKEN)
    assert status == 200 and answer["match"] is True  # the service decides with the console's enrollment

    row = next(r for r in by_css(browser, "#people .person") if r.find_element("css selector", ".name").text == "dan")
    row.find_element("css selector", ".rename input[name=new]").send_keys("daniel")
    submit(browser, row.find_element("css selector", ".rename button"))
    assert "dan is now daniel" in [p.text for p in by_css(browser, ".note")]
    assert people_names(browser) == ["daniel", "younes"]
    assert call(base + "/verify?name=daniel", (IMAGES / "dan.jpg").read_bytes(), token=VERIFY_TOKEN)[1]["match"]


def test_enrolling_from_the_browsers_camera(desk, browser, tmp_path):
    """The desk's camera (Chromium's fake one, showing Ricardo Lagos): two photos taken in the page join the
    enrollment form; sent, he is enrolled, and another picture of him matches through the API."""
    base, db = desk
    log_in(browser, base)
    browser.get(base + "/console/people")
    by_css(browser, "#camera-start")[0].click()
    wait_for(browser, lambda: browser.execute_script("return document.getElementById('camera-view').videoWidth")
             == 640, "the camera did not start")
    for taken in (1, 2):
        by_css(browser, "#camera-take")[0].click()
        wait_for(browser, lambda: by_css(browser, "#camera-count")[0].text == f"{taken} photo(s) taken",
                 "the photo was not taken")
    assert browser.execute_script("return document.getElementById('enroll-photos').files.length") == 2
    screenshot(browser, tmp_path, "people-camera")
    by_css(browser, "#enroll-name")[0].send_keys("ricardo")
    submit(browser, by_css(browser, "#enroll-button")[0])
    assert "ricardo: 2 photo(s) enrolled" in [p.text for p in by_css(browser, ".note")], \
        [p.text for p in by_css(browser, ".refused")]
    status, answer = call(base + "/verify?name=ricardo", (CAMERA_PERSON / "Ricardo_Lagos_0003.jpg").read_bytes(),
                          token=VERIFY_TOKEN)
    assert status == 200 and answer["match"] is True, answer
    listed = json.loads(run_facegate("--db", db, "list", "--json").stdout)
    assert [photo["source"] for person in listed["people"] if person["name"] == "ricardo"
            for photo in person["photos"]] == ["camera-1.jpg", "camera-2.jpg"]


def test_a_verify_through_the_api_appears_in_the_log_live_and_the_log_filters(desk, browser, tmp_path):
    base, _ = desk
    log_in(browser, base)
    browser.get(base + "/console/log")
    wait_for(browser, lambda: browser.execute_script("return window.facegateLive === 'open'"),
             "the page's event stream did not open")
    before = len(by_css(browser, "#log .record"))
    status, answer = call(base + "/verify?name=younes", (IMAGES / "camera_0.jpg").read_bytes(), token=VERIFY_TOKEN)
    assert status == 200 and answer["match"] is True
    wait_for(browser, lambda: len(by_css(browser, "#log .record")) == before + 1, "the decision did not appear")
    newest = by_css(browser, "#log .record")[0]
    assert newest.find_element("css selector", ".decision").text == "match"
    assert newest.find_element("css selector", ".person").text == "younes"
    face = newest.find_element("css selector", ".face img")  # the face crop the log kept, shown from the server
    wait_for(browser, lambda: browser.execute_script("return arguments[0].naturalWidth", face) > 0,
             "the face crop did not load")
    status, _ = call(base + "/identify", (IMAGES / "kevin.jpg").read_bytes(), token=VERIFY_TOKEN)
    assert status == 200
    wait_for(browser, lambda: len(by_css(browser, "#log .record")) == before + 2, "the second decision did not appear")
    screenshot(browser, tmp_path, "log")

    browser.get(base + "/console/log")
    by_css(browser, "#filter-person")[0].send_keys("younes")
    submit(browser, by_css(browser, "#filter-button")[0])
    rows = by_css(browser, "#log .record")
    assert rows and {row.find_element("css selector", ".person").text for row in rows} == {"younes"}
    browser.get(base + "/console/log?decision=unknown")
    rows = by_css(browser, "#log .record")
    assert rows and {row.find_element("css selector", ".decision").text for row in rows} == {"unknown"}
    assert by_css(browser, "#total")[0].text == f"({len(rows)} record{'' if len(rows) == 1 else 's'})"
    browser.get(base + "/console/log?since=2999-01-01")
    assert by_css(browser, "#log .record") == [] and by_css(browser, "#total")[0].text == "(0 records)"
    browser.get(base + "/console/log?since=yesterday")
    assert "expected a date" in by_css(browser, "#message")[0].text
    screenshot(browser, tmp_path, "log-filtered")

    submit(browser, by_css(browser, "#nav-days")[0])  # log --stats by day
    rows = {row.find_element("css selector", ".person").text: row for row in by_css(browser, "#days .day-row")}
    today = datetime.now(timezone.utc).date().isoformat()
    assert by_css(browser, "#days .day")[0].text == today
    assert int(rows["younes"].find_element("css selector", ".opened").text) >= 1
    assert int(rows["(unknown)"].find_element("css selector", ".refused").text) >= 1
    screenshot(browser, tmp_path, "days")


def test_unknown_visitors_are_grouped_and_named_into_a_person(desk, browser, tmp_path):
    """Three pictures of John Snow identified through the API: unknown, their crops one group on the page; named
    "john" there, he is enrolled from them (a fourth picture of him now matches) and the group is gone."""
    base, _ = desk
    snow = sorted((DATA / "lfw-devtrain" / "images" / "John_Snow").glob("*.jpg"))
    for photo in (snow[0], snow[3], snow[4]):  # his closest three (0.50-0.70 apart; the others are further)
        status, answer = call(base + "/identify", photo.read_bytes(), token=VERIFY_TOKEN)
        assert status == 200 and [face["identity"] for face in answer["faces"]] == [None], answer
    log_in(browser, base)
    submit(browser, by_css(browser, "#nav-unknown")[0])
    groups = [group for group in by_css(browser, ".visitor-group")
              if group.find_element("css selector", "h2").text.startswith("Visitor")]
    assert [len(group.find_elements("css selector", ".crop img")) for group in groups] == [3]
    for image in groups[0].find_elements("css selector", ".crop img"):
        assert browser.execute_script("return arguments[0].naturalWidth", image) > 0
    screenshot(browser, tmp_path, "unknown")
    groups[0].find_element("css selector", ".visitor-name").send_keys("john")
    submit(browser, groups[0].find_element("css selector", ".visitor-enroll"))
    assert "john: 3 photo(s) enrolled" in [p.text for p in by_css(browser, ".note")]
    assert [g.find_element("css selector", "h2").text for g in by_css(browser, ".visitor-group")
            if g.find_element("css selector", "h2").text.startswith("Visitor")] == []
    assert "3 crop(s) now match someone enrolled" in by_css(browser, ".hint")[0].text
    status, answer = call(base + "/verify?name=john", snow[1].read_bytes(), token=VERIFY_TOKEN)
    assert status == 200 and answer["match"] is True, answer


def test_the_doors_page_shows_which_cameras_are_alive(desk, browser, tmp_path):
    """A watch of the dev clip on the desk's database reports its camera: alive with its frame rate while it runs,
    stopped once Ctrl-C ends it; a camera whose last beat is a minute old is silent."""
    from facegate.accesslog import log_of
    from watching import CLIP, read_events_until, watching

    base, db = desk
    log_of(db).beat({"door": "loading-bay", "camera": "dock", "source": "rtsp://10.0.0.9/1", "time":
                     (datetime.now(timezone.utc) - timedelta(seconds=60)).isoformat(), "fps": 9.5})
    process = watching(db, f"lobby={CLIP}")
    try:
        assert read_events_until(process, lambda events: events, 120), process.stderr.read()
        log_in(browser, base)
        submit(browser, by_css(browser, "#nav-doors")[0])

        def door_states():
            return {row.find_element("css selector", ".camera").text: row.find_element("css selector", ".state").text
                    for row in by_css(browser, "#doors .door")}

        assert door_states() == {"dock": "silent", "lobby": "alive"}
        lobby = next(row for row in by_css(browser, "#doors .door") if "lobby" in row.text)
        assert lobby.find_element("css selector", ".last-event").text  # the decision just announced
        screenshot(browser, tmp_path, "doors")
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    assert process.returncode == 0
    browser.refresh()
    assert door_states() == {"dock": "silent", "lobby": "stopped"}
    lobby = next(status for status in log_of(db).doors() if status["camera"] == "lobby")
    assert lobby["frames"] > 0 and lobby["source"] == str(CLIP) and lobby["last_event"]["event"] in ("match", "unknown", "spoof")


def test_a_name_with_html_in_it_is_text_and_removing_asks_first(desk, browser, tmp_path):
    base, db = desk
    name = "<script>alert(1)</script>"
    assert run_facegate("--db", db, "enroll", name, IMAGES / "kian.jpg").returncode == 0
    log_in(browser, base)
    browser.get(base + "/console/people")
    assert name in people_names(browser)  # shown as its characters, not run
    assert browser.execute_script("return document.querySelectorAll('#people script').length") == 0
    screenshot(browser, tmp_path, "people-html-name")

    status, _ = call(base + "/verify?name=" + urllib.parse.quote(name), (IMAGES / "kian.jpg").read_bytes(),
                     token=VERIFY_TOKEN)
    assert status == 200  # a decision naming them, for the purge below
    row = next(r for r in by_css(browser, "#people .person") if r.find_element("css selector", ".name").text == name)
    row.find_element("css selector", ".remove button").click()
    alert = browser.switch_to.alert
    assert alert.text == f"Remove {name} and every photo enrolled for them?"
    alert.dismiss()
    assert name in people_names(browser)
    row = next(r for r in by_css(browser, "#people .person") if r.find_element("css selector", ".name").text == name)
    row.find_element("css selector", "input[name=purge_log]").click()  # --purge-log's choice
    submit(browser, row.find_element("css selector", ".remove button"), alert="accept")
    notes = [p.text for p in by_css(browser, ".note")]
    assert notes == [f"{name}: removed (1 photo(s))", f"{name}: 1 access-log record(s) purged"], notes
    assert name not in people_names(browser)
    listed = run_facegate("--db", db, "list").stdout
    assert "alert" not in listed


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(desk, browser):
    base, db = desk
    log_in(browser, base)
    browser.get(base + "/console/people")
    before = people_names(browser)
    # the session cookie rides along (same origin) but the form's CSRF token is stripped: refused
    browser.execute_script("for (const f of document.querySelectorAll('form.remove')) "
                           "f.querySelector('[name=csrf]').remove();")
    row = by_css(browser, "#people .person")[0]
    submit(browser, row.find_element("css selector", ".remove button"), alert="accept")
    assert "CSRF token missing or wrong" in by_css(browser, "#message")[0].text
    browser.get(base + "/console/people")
    assert people_names(browser) == before
