"""Walks the pages a signed-in person reaches, the way they would, and checks each kind once.

From every link in the page header (the navigation, its "More" menu, the profile link) it opens:
that page; the pages it links to outside its list ("Add customer", "Sync details", ...) and its
tabs; the first detail link of its list (the first row's link to another page) and, there, its
tabs and header actions. Pages of a kind already seen (the same view and query) are skipped. With
``submit_forms``, every post form with a required field is also submitted empty, in its error
state. A page added to the navigation later is walked without editing any test.
"""

from urllib.parse import urlsplit

from django.urls import Resolver404, resolve

HTML = "text/html"
# A page's own links (its actions, "Sync details", a card's "See all"), not its rows, tabs or
# pages: those lead to more of the same kind.
LINKS_OUTSIDE_LISTS = "main a[href]:not(table a):not(nav a)"
TABS = "main nav.tabs a[href]"
FORMS_WITH_A_REQUIRED_FIELD = "main form[method=post]:has([required])"


def same_origin_links(page, selector):
    """Absolute URLs (fragment removed) of the links matching ``selector`` that stay on the
    portal, in document order, without duplicates."""
    origin = page.evaluate("location.origin")
    hrefs = page.eval_on_selector_all(selector, "links => links.map((a) => a.href)")
    found = []
    for href in hrefs:
        url = href.split("#", 1)[0]
        if url.startswith(origin + "/") and url not in found:
            found.append(url)
    return found


def page_kind(url):
    """The view and query a URL shows: two customers' "Access" tabs are one kind of page, so a
    kind already checked is not checked again through another list."""
    parts = urlsplit(url)
    try:
        view = resolve(parts.path).view_name
    except Resolver404:
        view = parts.path
    return view, parts.query


class Crawl:
    """``check(page, label)`` returns a list of problems with the page as shown; ``prepare`` maps
    a path to what to do there before checking (a page drawn by script after its load event)."""

    def __init__(self, page, check, *, submit_forms=True, prepare=None):
        self.page = page
        self.check_page = check
        self.submit_forms = submit_forms
        self.prepare = prepare or {}
        self.checked = set()
        self.failures = []

    def run(self, start_url):
        self.page.goto(start_url)
        for page_url in same_origin_links(self.page, "header a[href]"):
            if not self.visit(page_url, "navigation"):
                continue
            linked = same_origin_links(self.page, LINKS_OUTSIDE_LISTS)
            linked += same_origin_links(self.page, TABS)
            detail = self.first_detail_link()
            for linked_url in linked:
                self.visit(linked_url, "linked from the page")
            if detail and self.visit(detail, "first detail of the list"):
                tabs = same_origin_links(self.page, TABS)
                actions = same_origin_links(self.page, "main .page-header a[href]")
                for other_url in tabs + actions:
                    self.visit(other_url, "detail tab or action")
        return self.failures

    def check(self, label):
        parts = urlsplit(self.page.url)
        where = parts.path + (f"?{parts.query}" if parts.query else "")
        self.failures += [f"{where} [{label}] {line}" for line in self.check_page(self.page)]

    def visit(self, url, label):
        """Opens and checks ``url`` unless its kind was checked already or it is not a page of
        the portal's (a CSV export, a redirect to Microsoft's sign-in); returns whether it did."""
        kind = page_kind(url)
        if kind in self.checked:
            return False
        self.checked.add(kind)
        head = self.page.request.head(url, max_redirects=0)
        if not head.ok or not head.headers.get("content-type", "").startswith(HTML):
            return False
        self.page.goto(url)
        prepare = self.prepare.get(urlsplit(url).path)
        if prepare:
            prepare(self.page)
        self.check(label)
        if self.submit_forms:
            self.submit_forms_empty(url)
        return True

    def submit_forms_empty(self, url):
        """Each post form with a required field, submitted with its text fields emptied and the
        browser's own validation off, so the page shows the server's errors."""
        for index in range(self.page.locator(FORMS_WITH_A_REQUIRED_FIELD).count()):
            if index:
                self.page.goto(url)
            form = self.page.locator(FORMS_WITH_A_REQUIRED_FIELD).nth(index)
            form.evaluate(
                """(form) => {
                    form.noValidate = true;
                    form.querySelectorAll("input:not([type=hidden]):not([type=checkbox])"
                        + ":not([type=radio]):not([type=submit]), textarea")
                        .forEach((field) => { field.value = ""; });
                }"""
            )
            with self.page.expect_navigation():
                form.evaluate("(form) => form.requestSubmit()")
            self.check("form submitted empty")

    def first_detail_link(self):
        """The first link in the list's rows that leads to another page (not a filter or sort
        link on the list itself)."""
        here = urlsplit(self.page.url).path
        for url in same_origin_links(self.page, "main table tbody a[href]"):
            if urlsplit(url).path != here:
                return url
        return None
