"""mkdocs hook: the repository files the docs link to become pages of the site.

A docs page links to a file elsewhere in the repository by its relative path
(`../bench/README.md`, `../dbt_project/macros/incremental.sql`), which works in a clone. In the
built site such a link would leave the site, so this hook adds every file linked that way as a
page under `repo/` (a Markdown file as it is, any other file shown as code) and rewrites the
links to it; the README becomes the home page. The site stays whole, offline.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

# a Markdown link or image target: ](target) or ](target#anchor)
LINK = re.compile(r"(\]\()([^()\s#]+)(#[^()\s]*)?(\))")
HOME = "README.md"
REPO_PREFIX = "repo/"
# where each generated page's text comes from: site source path -> repository file
_sources: dict[str, Path] = {}


def _repo_root(config: MkDocsConfig) -> Path:
    """The repository: the folder of mkdocs.yml."""
    return Path(config.config_file_path).resolve().parent


def _is_relative(target: str) -> bool:
    """A link to a path (not a URL, not an anchor, not an absolute path)."""
    return not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) and not target.startswith("/")


def _site_path(path: Path, config: MkDocsConfig) -> str | None:
    """The site source path of a repository file, or None if it lies outside the repository."""
    docs, root = Path(config.docs_dir).resolve(), _repo_root(config)
    if path.is_relative_to(docs):
        return path.relative_to(docs).as_posix()
    if not path.is_relative_to(root):
        return None
    relative = path.relative_to(root).as_posix()
    if relative == HOME:
        return "index.md"
    return REPO_PREFIX + relative + ("" if path.suffix == ".md" else ".md")


def _page_text(path: Path, relative: str) -> str:
    """A Markdown file as it is; any other file as a code block under its path."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".md":
        return text
    fence = "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", text)), default=0))
    return f"# `{relative}`\n\n{fence}{path.suffix.lstrip('.')}\n{text}\n{fence}\n"


def _linked_files(text: str, folder: Path) -> list[Path]:
    """The existing files a Markdown text links to by relative path."""
    found = []
    for match in LINK.finditer(text):
        target = match.group(2)
        if _is_relative(target):
            path = (folder / target).resolve()
            if path.is_file():
                found.append(path)
    return found


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the README as the home page and every repository file linked from a page."""
    docs, root = Path(config.docs_dir).resolve(), _repo_root(config)
    _sources.clear()
    queue = [docs / f.src_uri for f in files.documentation_pages()] + [root / HOME]
    seen: set[Path] = set()
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        site_path = _site_path(path, config)
        if site_path is None:
            continue
        if not path.is_relative_to(docs):
            if files.get_file_from_path(site_path) is None:
                text = _page_text(path, path.relative_to(root).as_posix())
                files.append(File.generated(config, site_path, content=text))
            _sources[site_path] = path
        if path.suffix == ".md":
            queue.extend(_linked_files(path.read_text(encoding="utf-8"), path.parent))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Point each relative link at the target's page in the site."""
    source = _sources.get(page.file.src_uri, Path(config.docs_dir).resolve() / page.file.src_uri)
    here = posixpath.dirname(page.file.src_uri) or "."

    def rewrite(match: re.Match) -> str:
        target = match.group(2)
        if not _is_relative(target):
            return match.group(0)
        path = (source.parent / target).resolve()
        site_path = _site_path(path, config) if path.exists() else None
        if site_path is None:  # left as written: mkdocs reports a link it cannot resolve
            return match.group(0)
        new = posixpath.relpath(site_path, here)
        return f"{match.group(1)}{new}{match.group(3) or ''}{match.group(4)}"

    return LINK.sub(rewrite, markdown)
