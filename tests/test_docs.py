"""The documentation: `make docs` builds a site that works offline, every link in the repository's
Markdown resolves inside the repository, and the README stays a five-minute read.

Each checker is also run on a broken example, so a check that could never fail would show here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 220
# Markdown the docs are made of, beside the code: every relative link in them must resolve
MARKDOWN = ["README.md", "bench/README.md", "seeds/README.md", "expectations/README.md"]
# Hosts a page may link to in its text, as a reference (never an asset): the packages' pages
REFERENCE_HOSTS = {"pypi.org"}
# URLs in Material for MkDocs' own JavaScript that the browser fetches only under a condition
# this site never meets; each condition is checked in test_built_site_fetches_nothing_from_the_web
CONDITIONAL_JS_URLS = {
    "https://unpkg.com/mermaid@11/dist/mermaid.min.js": "a page with a mermaid diagram",
    "https://unpkg.com/resize-observer-polyfill": "a browser without ResizeObserver",
    "https://api.github.com/": "a repo_url in mkdocs.yml (repository facts)",
    "https://${e}/api/v4/projects/": "a repo_url in mkdocs.yml (repository facts)",
}
ASSET_ATTRIBUTES = {"src", "href", "srcset", "poster", "data", "action", "formaction", "xlink:href"}
EXTERNAL = re.compile(r"^https?://", re.IGNORECASE)
CSS_URL = re.compile(r"""url\(\s*['"]?\s*(https?://[^'")\s]+)""", re.IGNORECASE)
CSS_IMPORT = re.compile(r"""@import\s+(?:url\()?\s*['"]?\s*(https?://[^'")\s;]+)""", re.IGNORECASE)
JS_URL_LITERAL = re.compile(r"""["'`](https?://[^"'`\s]*)""")
# [text](target), ![alt](target), [label]: target, <a href="target">, <img src="target">
MD_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
MD_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
MD_HTML_LINK = re.compile(r"""<(?:a|img)\s[^>]*?(?:href|src)=["']([^"']+)["']""", re.IGNORECASE)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
SHARED = re.compile(r"(?:\.\./)+shared\b|/work/shared\b")


# --- the checkers ---------------------------------------------------------------------------


class _Assets(HTMLParser):
    """Collects every URL-valued attribute of an HTML page, and its inline styles and scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.styles: list[str] = []
        self.scripts: list[str] = []
        self._inside: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ASSET_ATTRIBUTES:
                for url in value.split(",") if name == "srcset" else [value]:
                    self.urls.append((tag, name, url.strip().split(" ")[0]))
            elif name == "style":
                self.styles.append(value)
        self._inside = tag if tag in ("style", "script") and "src" not in dict(attrs) else None

    def handle_endtag(self, tag: str) -> None:
        self._inside = None

    def handle_data(self, data: str) -> None:
        if self._inside == "style":
            self.styles.append(data)
        elif self._inside == "script":
            self.scripts.append(data)


def css_problems(css: str, where: str) -> list[str]:
    """Every stylesheet or font a CSS text would fetch from another host."""
    urls = dict.fromkeys(CSS_URL.findall(css) + CSS_IMPORT.findall(css))  # @import url(…) once
    return [f"{where}: fetches {url}" for url in urls]


def js_problems(js: str, where: str) -> list[str]:
    """Every URL literal in a script that is not one of Material's known conditional loads."""
    return [
        f"{where}: may fetch {url}"
        for url in JS_URL_LITERAL.findall(js)
        if not any(url.startswith(known) for known in CONDITIONAL_JS_URLS)
    ]


def html_problems(html: str, where: str) -> list[str]:
    """Every asset an HTML page takes from another host, and every link to a host that is not a
    reference (REFERENCE_HOSTS); then what its inline styles and scripts would fetch."""
    parser = _Assets()
    parser.feed(html)
    problems = []
    for tag, attribute, url in parser.urls:
        if not EXTERNAL.match(url):
            continue
        if tag == "a" and attribute == "href" and urlsplit(url).hostname in REFERENCE_HOSTS:
            continue
        problems.append(f"{where}: <{tag} {attribute}={url}>")
    for style in parser.styles:
        problems += css_problems(style, where)
    for script in parser.scripts:
        problems += js_problems(script, where)
    return problems


def site_problems(site: Path) -> list[str]:
    """What the built site would take from the web, over every page, stylesheet and script."""
    problems = []
    for path in sorted(site.rglob("*")):
        where = str(path.relative_to(site))
        if path.suffix == ".html":
            problems += html_problems(path.read_text(encoding="utf-8"), where)
        elif path.suffix == ".css":
            problems += css_problems(path.read_text(encoding="utf-8"), where)
        elif path.suffix == ".js":
            problems += js_problems(path.read_text(encoding="utf-8"), where)
    return problems


def broken_site_links(site: Path) -> list[str]:
    """Every href or src of the built pages, other than a URL, that names no file of the site."""
    broken = []
    for page in sorted(site.rglob("*.html")):
        parser = _Assets()
        parser.feed(page.read_text(encoding="utf-8"))
        for tag, attribute, url in parser.urls:
            parts = urlsplit(url)
            if parts.scheme or parts.netloc or not parts.path:
                continue
            base = site if parts.path.startswith("/") else page.parent  # 404.html: from the root
            if not (base / parts.path.lstrip("/")).resolve().is_file():
                broken.append(f"{page.relative_to(site)}: <{tag} {attribute}={url}>")
    return broken


def markdown_targets(text: str) -> list[str]:
    """The link targets of a Markdown text, outside fenced code blocks."""
    text = FENCE.sub("", text)
    return MD_LINK.findall(text) + MD_REFERENCE.findall(text) + MD_HTML_LINK.findall(text)


def broken_markdown_links(path: Path, root: Path = ROOT) -> list[str]:
    """Every relative link of a Markdown file that leaves the repository or names no file in it."""
    broken = []
    for target in markdown_targets(path.read_text(encoding="utf-8")):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or not parts.path:
            continue  # a URL, or an anchor on the same page
        resolved = (path.parent / parts.path).resolve()
        if not resolved.is_relative_to(root):
            broken.append(f"{path.relative_to(root)}: {target} is outside the repository")
        elif not resolved.exists():
            broken.append(f"{path.relative_to(root)}: {target} does not exist")
    return broken


def repository_files(root: Path = ROOT) -> list[Path]:
    """The repository's files: tracked, and new ones not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    paths = [root / name for name in listed.split("\0") if name]
    return [p for p in paths if p.is_file() and not p.is_symlink()]


def files_naming_shared(paths: list[Path], root: Path = ROOT) -> list[str]:
    """Text files that point at the workplace's shared folder, outside the repository."""
    found = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # not a text file
        for match in SHARED.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{path.relative_to(root)}:{line}: {match.group(0)}")
    return found


def nav_pages(config: dict) -> set[str]:
    """Every page named in mkdocs.yml's nav."""
    pages: set[str] = set()
    stack = list(config.get("nav", []))
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            pages.add(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return pages


def readme_problems(text: str) -> list[str]:
    """What keeps a README from being read in five minutes: its length."""
    lines = len(text.splitlines())
    return [f"{lines} lines (at most {README_MAX_LINES})"] if lines > README_MAX_LINES else []


def docs_command() -> list[str]:
    """The mkdocs command line of the Makefile's docs target."""
    recipe = re.search(r"^docs:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert recipe, "the Makefile has no docs target"
    line = next(cmd for cmd in recipe.group(1).split("\n") if "mkdocs" in cmd)
    return line.split("mkdocs", 1)[1].split()


# --- the site, built as make docs builds it -------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built by the Makefile's mkdocs command, into a temporary folder."""
    args = docs_command()
    assert args[:2] == ["build", "--strict"], args
    out = tmp_path_factory.mktemp("site")
    args = args[: args.index("--site-dir")] if "--site-dir" in args else args
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", *args, "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    return out


def test_make_docs_builds_every_page_strictly(site: Path):
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = sorted(p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").glob("*.md"))
    assert pages, "docs/ has no page"
    assert set(pages) <= nav_pages(config), "a docs page is missing from the nav"
    for page in pages:
        assert (site / page.replace(".md", ".html")).is_file(), page
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "Where to go next" in home, "the README is not the home page"
    benchmarks = site / "repo" / "bench" / "index.html"
    assert "Measured" in benchmarks.read_text(encoding="utf-8"), "bench/README.md is not a page"


def test_built_site_links_resolve(site: Path):
    assert broken_site_links(site) == []
    incremental = (site / "incremental-builds.html").read_text(encoding="utf-8")
    assert 'href="repo/dbt_project/macros/incremental.sql.html"' in incremental


def test_built_site_fetches_nothing_from_the_web(site: Path):
    assert site_problems(site) == []
    pages = "\n".join(p.read_text(encoding="utf-8") for p in site.rglob("*.html"))
    # the conditions of Material's conditional loads (CONDITIONAL_JS_URLS) are never met
    assert 'class="mermaid"' not in pages
    assert 'data-md-component="source"' not in pages
    assert "fonts.googleapis" not in pages and "fonts.gstatic" not in pages
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert "repo_url" not in config
    assert config["theme"]["font"] is False


@pytest.mark.parametrize("name", MARKDOWN + ["docs"])
def test_markdown_links_resolve_inside_the_repository(name: str):
    paths = sorted((ROOT / name).glob("*.md")) if name == "docs" else [ROOT / name]
    assert paths and all(p.is_file() for p in paths), name
    assert [problem for p in paths for problem in broken_markdown_links(p)] == []


def test_no_file_points_outside_the_repository():
    this_file = Path(__file__).resolve()  # it holds the patterns, and broken examples of them
    files = [p for p in repository_files() if p != this_file]
    assert ROOT / "README.md" in files
    assert files_naming_shared(files) == []
    markdown = [p for p in files if p.suffix == ".md"]
    assert [problem for p in markdown for problem in broken_markdown_links(p)] == []


def test_readme_is_a_five_minute_read():
    assert readme_problems((ROOT / "README.md").read_text(encoding="utf-8")) == []


# --- the checkers fail on broken examples ---------------------------------------------------


def test_checkers_find_web_assets_in_a_broken_page():
    page = """<html><head>
      <link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">
      <script src="https://unpkg.com/iframe-worker/shim"></script>
      <style>@import url("https://cdn.jsdelivr.net/npm/x.css");</style>
      <script>fetch("https://cdnjs.cloudflare.com/x.js")</script>
    </head><body>
      <img srcset="img/a.png 1x, https://example.org/b.png 2x">
      <a href="https://pypi.org/project/pgpq/">pgpq</a>
      <a href="https://example.com/elsewhere">a link to a site that is not a reference</a>
      <p style="background: url(https://example.org/bg.png)">text</p>
    </body></html>"""
    problems = html_problems(page, "page.html")
    assert len(problems) == 7, problems
    assert not any("pypi.org" in p for p in problems)
    assert css_problems("a{background:url(https://fonts.gstatic.com/x.woff2)}", "x.css")
    assert css_problems("@import 'https://fonts.googleapis.com/css2';", "x.css")
    inline_svg = """a{background:url("data:image/svg+xml;xmlns='http://www.w3.org/2000/svg'")}"""
    assert css_problems(inline_svg, "x.css") == []
    assert js_problems('_t("https://cdn.jsdelivr.net/npm/mermaid")', "x.js")
    assert js_problems('_t("https://unpkg.com/mermaid@11/dist/mermaid.min.js")', "x.js") == []


def test_checkers_find_broken_links(tmp_path: Path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "here.md").write_text("# here\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "[ok](here.md#top) [anchor](#x) [web](https://pypi.org/)\n"
        "[design](../../shared/DESIGN.md) [gone](missing.md)\n"
        "```\n[in code](not-a-link.md)\n```\n"
        "[ref]: ../../outside.md\n"
    )
    problems = broken_markdown_links(page, tmp_path)
    assert len(problems) == 3, problems
    assert files_naming_shared([page], tmp_path) == ["docs/page.md:2: ../../shared"]

    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text('<a href="gone.html#x">x</a><a href="index.html">me</a>')
    assert broken_site_links(site) == ["index.html: <a href=gone.html#x>"]


def test_readme_check_fails_on_a_long_readme():
    assert readme_problems("line\n" * README_MAX_LINES) == []
    assert readme_problems("line\n" * (README_MAX_LINES + 1)) == ["221 lines (at most 220)"]
