"""Every page each role reaches, in English and in Turkish, passes axe-core's WCAG 2.1 AA rules,
starts with a skip link, and reflows at 320 px and at 200% zoom.

The pages are found as a person finds them (tests/e2e/crawl.py), so a page added later is covered
without editing this test. A serious or critical violation fails the test, naming the page, the
rule and the elements. `make accessibility` runs these tests alone.
"""

from urllib.parse import urlsplit

import pytest

from accounts.models import User
from demo import data as demo_data
from tests.e2e.accessibility import install_axe, serious_violations
from tests.e2e.crawl import Crawl

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LANGUAGES = ["en", "tr"]
DEMO_LOGINS = {email.split("@")[0]: email for email, _name, _role in demo_data.DEMO_USERS}

# Rules switched off on one page only, each with the reason. Keep this short.
EXCLUDED_RULES = {
    "/api/v1/docs/": {
        # Swagger UI (vendored, drf-spectacular-sidecar) draws the response examples' <select>
        # without a label, and no setting gives it one.
        "select-name",
    },
}


def open_an_api_operation(page):
    """Swagger UI draws the API documentation after the load event: wait for it, then open the
    first operation and its "Try it out" form, so its parameters and responses are checked too."""
    page.locator("#swagger-ui .opblock-summary-control").first.click()
    page.locator("#swagger-ui .try-out__btn").first.click()
    page.locator("#swagger-ui .btn.execute").first.wait_for()


PREPARE = {"/api/v1/docs/": open_an_api_operation}

SKIP_LINK_COMES_FIRST = """() => {
    const first = document.querySelector("body a[href], body button, body input, body select,"
        + " body textarea, body summary, body [tabindex]:not([tabindex='-1'])");
    const href = first ? first.getAttribute("href") || "" : "";
    return href.startsWith("#") && document.getElementById(href.slice(1)) !== null;
}"""

SIDEWAYS_OVERFLOW = """() => {
    const width = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth <= width) {
        return null;
    }
    // The elements reaching past the window's right edge, outside the boxes that scroll on
    // their own (wide tables, code).
    return [...document.querySelectorAll("body *")]
        .filter((element) => element.getBoundingClientRect().right > width + 1
            && !element.closest(".table-wrap, pre"))
        .slice(-3)
        .map((element) => element.tagName.toLowerCase()
            + (element.className ? "." + String(element.className).split(" ").join(".") : ""));
}"""


def axe_and_skip_link(page):
    problems = serious_violations(page, EXCLUDED_RULES.get(urlsplit(page.url).path, set()))
    if not page.evaluate(SKIP_LINK_COMES_FIRST):
        problems.append("skip link: the first thing Tab reaches is not a link to the content")
    return problems


def scrolls_sideways(page):
    overflow = page.evaluate(SIDEWAYS_OVERFLOW)
    if overflow is None:
        return []
    return [f"scrolls sideways; past the right edge: {', '.join(overflow) or 'unknown'}"]


@pytest.fixture
def open_portal(page, context, demo_portal, sign_in, settings):
    """``open_portal(language, login=None)`` sets the language, signs in as a demo login if
    given, and returns the portal's address."""

    def open_portal(language, login=None):
        context.add_cookies(
            [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": demo_portal.url}]
        )
        if login:
            user = User.objects.get(email=DEMO_LOGINS[login])
            sign_in(page, user, password=demo_data.DEMO_PASSWORD)
        return f"{demo_portal.url}/"

    return open_portal


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("login", sorted(DEMO_LOGINS))
def test_every_page_a_role_reaches_passes_axe(page, context, open_portal, login, language):
    install_axe(context)
    crawl = Crawl(page, axe_and_skip_link, prepare=PREPARE)
    # The sign-in page (and its error state) first, as everyone meets it.
    crawl.visit(f"{open_portal(language)}accounts/login/", "sign-in")
    failures = crawl.run(open_portal(language, login))
    assert len(crawl.checked) > 3, "the sweep found no pages: did the sign-in work?"
    assert failures == [], f"{len(failures)} pages fail:\n" + "\n".join(failures)


@pytest.mark.parametrize(
    "viewport",
    [{"width": 320, "height": 640}, {"width": 640, "height": 400}],
    ids=["320px", "1280px-at-200-percent"],
)
def test_pages_reflow_without_scrolling_sideways(page, open_portal, viewport):
    page.set_viewport_size(viewport)
    crawl = Crawl(page, scrolls_sideways, submit_forms=False, prepare=PREPARE)
    crawl.visit(f"{open_portal('en')}accounts/login/", "sign-in")
    failures = crawl.run(open_portal("en", "globaladmin"))
    assert len(crawl.checked) > 3, "the sweep found no pages: did the sign-in work?"
    assert failures == [], f"{len(failures)} pages fail:\n" + "\n".join(failures)
