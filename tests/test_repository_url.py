"""The repository URL is one setting: ``repository.url`` in ``_config.yml``.

Everything else that names the repository must agree with it: the README's Binder and
Colab badges, the README's citation (and a CITATION file, if one is added), the first code
cell of every notebook (which fetches the repository on Colab), and any clone command,
launch link or citation URL in the book's pages. The Binder and Colab buttons of the site
are built from the setting itself (checked on the built sites by
``tests/browser/test_student_launch.py``).

The reader below parses each place on its own terms (badge URL schemes, bibtex fields, the
notebook's JSON) and is checked to catch a changed URL in each of them.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

_GITHUB = r"https://github\.com/[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+?"
_END = r"(?=\.git\b|[@/#?\s\"'`)}\]]|$)"
# Forms that name the repository, each with the repository URL as its group "url".
_FORMS = {
    "Binder badge or link": re.compile(
        r"https://mybinder\.org/v2/gh/(?P<org>[^/\s]+)/(?P<repo>[^/\s?]+)/(?P<branch>[^/\s?)]+)"),
    "Colab badge or link": re.compile(
        r"https://colab\.research\.google\.com/github/(?P<org>[^/\s]+)/(?P<repo>[^/\s]+)"
        r"/blob/(?P<branch>[^/\s]+)/(?P<path>[^\s)\"']+)"),
    "git clone": re.compile(rf"git clone (?:--\S+ (?:\S+ )?)*(?P<url>{_GITHUB}){_END}"),
    "pip install": re.compile(rf"git\+(?P<url>{_GITHUB}){_END}"),
    "bibtex url": re.compile(rf"(?:\\url\{{|\burl\s*=\s*\{{)(?P<url>{_GITHUB}){_END}"),
    "citation file": re.compile(rf"^(?:repository-code|url|repository):\s*[\"']?(?P<url>{_GITHUB})"
                                rf"{_END}", re.M),
}


def config_url(root: Path) -> str:
    url = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"]
    assert re.fullmatch(_GITHUB, url) and not url.endswith(".git"), (
        f"_config.yml repository.url={url!r} is not https://github.com/ORG/REPO")
    return url


def mentions(text: str) -> list[tuple[str, str, str | None]]:
    """(form, repository URL, branch or None) of every place ``text`` names a repository."""
    found = []
    for form, pattern in _FORMS.items():
        for match in pattern.finditer(text):
            groups = match.groupdict()
            url = groups.get("url") or f"https://github.com/{groups['org']}/{groups['repo']}"
            found.append((form, url, groups.get("branch")))
    return found


def first_code_cell(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code, f"{path.name} has no code cell"
    source = code[0]["source"]
    return "".join(source) if isinstance(source, list) else source


def _github_urls(text: str) -> set[str]:
    return {m.group(0) for m in re.finditer(rf"{_GITHUB}{_END}", text)}


def disagreements(root: Path) -> list[str]:
    """Every place under ``root`` that names the repository differently from ``_config.yml``."""
    url = config_url(root)
    problems = []

    readme = (root / "README.md").read_text(encoding="utf-8")
    found = mentions(readme)
    forms = {form for form, _, _ in found}
    for needed in ("Binder badge or link", "Colab badge or link", "bibtex url"):
        if needed not in forms:
            problems.append(f"README.md: no {needed} found")
    for form, named, branch in found:
        if named != url:
            problems.append(f"README.md: {form} names {named}")
        if branch is not None and branch != "main":
            problems.append(f"README.md: {form} opens branch {branch}, not main")
    for match in _FORMS["Colab badge or link"].finditer(readme):
        if not (root / match["path"]).is_file():
            problems.append(f"README.md: the Colab badge opens {match['path']}, "
                            "which does not exist")

    for path in sorted(root.glob("CITATION*")):
        named = [u for _, u, _ in mentions(path.read_text(encoding="utf-8"))]
        if not named:
            problems.append(f"{path.name}: names no repository URL")
        problems += [f"{path.name}: names {u}" for u in named if u != url]

    for path in sorted((root / "book").glob("*.md")):
        for form, named, _ in mentions(path.read_text(encoding="utf-8")):
            if named != url:
                problems.append(f"book/{path.name}: {form} names {named}")

    notebooks = sorted((root / "notebooks").glob("*.ipynb"))
    if not notebooks:
        problems.append("no notebooks found")
    for path in notebooks:
        named = _github_urls(first_code_cell(path))
        if not named:
            problems.append(f"notebooks/{path.name}: the first code cell names no repository")
        problems += [f"notebooks/{path.name}: the first code cell names {u}"
                     for u in sorted(named) if u != url]
    return problems


def test_every_place_names_the_configured_repository():
    assert disagreements(ROOT) == []


def test_the_configured_url_is_where_the_site_buttons_come_from():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["repository"]["branch"] == "main"
    assert config["html"]["use_repository_button"] is True
    assert {"binderhub_url", "colab_url"} <= set(config["launch_buttons"])


# ------------------------------------------------------------------ the checker can fail

@pytest.fixture()
def copy_of_the_places(tmp_path):
    for name in ("_config.yml", "README.md"):
        shutil.copy2(ROOT / name, tmp_path / name)
    for path in ROOT.glob("CITATION*"):
        shutil.copy2(path, tmp_path / path.name)
    (tmp_path / "book").mkdir()
    for path in (ROOT / "book").glob("*.md"):
        shutil.copy2(path, tmp_path / "book" / path.name)
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    assert disagreements(tmp_path) == []
    return tmp_path


OTHER = "https://github.com/someone-else/fork"


def _replace_once(path: Path, old: str, new: str, occurrence: int = 0):
    text = path.read_text(encoding="utf-8")
    starts = [m.start() for m in re.finditer(re.escape(old), text)]
    assert len(starts) > occurrence, f"{old!r} occurs {len(starts)} times in {path.name}"
    at = starts[occurrence]
    path.write_text(text[:at] + new + text[at + len(old):], encoding="utf-8")


def test_a_moved_config_url_is_caught_everywhere(copy_of_the_places):
    url = config_url(ROOT)
    _replace_once(copy_of_the_places / "_config.yml", f"url: {url}", f"url: {OTHER}")
    problems = disagreements(copy_of_the_places)
    n_notebooks = len(list((ROOT / "notebooks").glob("*.ipynb")))
    assert sum("first code cell names" in p for p in problems) == n_notebooks
    assert any(p.startswith("README.md: Binder") for p in problems)
    assert any(p.startswith("README.md: Colab") for p in problems)
    assert any(p.startswith("README.md: bibtex url") for p in problems)


@pytest.mark.parametrize("place", ["binder badge", "colab badge", "bibtex", "notebook",
                                   "intro clone", "citation file", "badge branch"])
def test_one_stale_place_is_named(copy_of_the_places, place):
    root, url = copy_of_the_places, config_url(ROOT)
    org_repo = url.removeprefix("https://github.com/")
    other = OTHER.removeprefix("https://github.com/")
    if place == "binder badge":
        _replace_once(root / "README.md", f"mybinder.org/v2/gh/{org_repo}/",
                      f"mybinder.org/v2/gh/{other}/")
        expected = f"README.md: Binder badge or link names {OTHER}"
    elif place == "colab badge":
        _replace_once(root / "README.md", f"/github/{org_repo}/blob", f"/github/{other}/blob")
        expected = f"README.md: Colab badge or link names {OTHER}"
    elif place == "bibtex":
        _replace_once(root / "README.md", f"\\url{{{url}}}", f"\\url{{{OTHER}}}")
        expected = f"README.md: bibtex url names {OTHER}"
    elif place == "badge branch":
        _replace_once(root / "README.md", f"/v2/gh/{org_repo}/main", f"/v2/gh/{org_repo}/student")
        expected = "README.md: Binder badge or link opens branch student, not main"
    elif place == "notebook":
        name = sorted((root / "notebooks").glob("*.ipynb"))[-1].name
        _replace_once(root / "notebooks" / name, url, OTHER)
        expected = f"notebooks/{name}: the first code cell names {OTHER}"
    elif place == "intro clone":
        _replace_once(root / "book" / "intro.md", f"git clone {url}", f"git clone {OTHER}")
        expected = f"book/intro.md: git clone names {OTHER}"
    else:
        (root / "CITATION.cff").write_text(f"cff-version: 1.2.0\nrepository-code: \"{OTHER}\"\n")
        expected = f"CITATION.cff: names {OTHER}"
    assert disagreements(root) == [expected]


def test_the_first_code_cell_is_read_not_any_cell(copy_of_the_places):
    """A URL in a later cell does not stand in for a first cell that names none."""
    path = sorted((copy_of_the_places / "notebooks").glob("*.ipynb"))[0]
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    code[0]["source"], code[1]["source"] = code[1]["source"], code[0]["source"]
    path.write_text(json.dumps(nb), encoding="utf-8")
    assert disagreements(copy_of_the_places) == [
        f"notebooks/{path.name}: the first code cell names no repository"]
