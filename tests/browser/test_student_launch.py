"""Every launch button of the built sites, followed to the file it opens (``make book student``).

A Binder, Colab or JupyterHub button names a repository, a branch and a path. This test
parses every page of the student site (``_build/student/_build/html``), decodes each launch
link by the providers' URL schemes (written out here, not taken from the theme), and reads
the file that link would serve: for the branch ``student`` that is the file in the commit
``make student`` made in ``_build/student/branch`` (exactly what ``git push`` publishes).
The target must be a student notebook: no solution directive, no text of any solution of
the full notebook, no cell tagged as a solution, and a first cell that fetches the student
branch, not ``main``. Binder and JupyterHub check out the whole branch, so every file on it
is checked too. The full site's buttons must still open ``main``.

No network: nothing is fetched; the branch is read with git from the local folder.
Outside CI a missing build skips loudly; under ``CI`` it fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FULL = ROOT / "_build" / "html"
STUDENT = ROOT / "_build" / "student" / "_build" / "html"
BRANCH_DIR = ROOT / "_build" / "student" / "branch"
STUDENT_SRC = ROOT / "_build" / "student-src"      # the sources the student site was built from
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
URL = CONFIG["repository"]["url"]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))


def _require(path: Path, what: str):
    if not path.exists():
        message = f"NO {what} at {path}: run `make book student` first."
        if os.environ.get("CI"):
            pytest.fail(message)
        print("\n" + "!" * 78 + "\n" + message + "\n" + "!" * 78)
        pytest.skip(message)


# ------------------------------------------------------------------ decoding launch links

class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def _hrefs(page: Path) -> list[str]:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.hrefs


def decode(href: str):
    """(provider, repository URL, branch, path in the repository) of a launch link, else None.

    Binder:     https://mybinder.org/v2/gh/ORG/REPO/BRANCH?urlpath=lab/tree/PATH
    Colab:      https://colab.research.google.com/github/ORG/REPO/blob/BRANCH/PATH
    JupyterHub: HUB/hub/user-redirect/git-pull?repo=URL&urlpath=lab/tree/REPO/PATH&branch=BRANCH
                (nbgitpuller clones REPO into a folder named REPO in the user's home)
    """
    parts = urlsplit(href)
    query = parse_qs(parts.query)
    if parts.netloc == "mybinder.org" and parts.path.startswith("/v2/"):
        match = re.fullmatch(r"/v2/gh/([^/]+)/([^/]+)/([^/]+)", parts.path)
        assert match, f"unexpected Binder link {href}"
        org, repo, branch = match.groups()
        (urlpath,) = query["urlpath"]
        assert urlpath.startswith("lab/tree/"), f"Binder does not open JupyterLab: {href}"
        return "binder", f"https://github.com/{org}/{repo}", branch, urlpath[len("lab/tree/"):]
    if parts.netloc == "colab.research.google.com" and parts.path.startswith("/github/"):
        match = re.fullmatch(r"/github/([^/]+)/([^/]+)/blob/([^/]+)/(.+)", parts.path)
        assert match, f"unexpected Colab link {href}"
        org, repo, branch, path = match.groups()
        return "colab", f"https://github.com/{org}/{repo}", branch, unquote(path)
    if parts.path.endswith("/hub/user-redirect/git-pull"):
        (repo_url,), (branch,), (urlpath,) = query["repo"], query["branch"], query["urlpath"]
        folder = repo_url.rstrip("/").rsplit("/", 1)[-1]
        prefix = f"lab/tree/{folder}/"
        assert urlpath.startswith(prefix), f"JupyterHub link opens outside the clone: {href}"
        return "jupyterhub", repo_url, branch, urlpath[len(prefix):]
    return None


def test_decode_reads_the_three_schemes():
    org_repo = "o/r"
    assert decode(f"https://mybinder.org/v2/gh/{org_repo}/student"
                  "?urlpath=lab/tree/notebooks/a.ipynb") \
        == ("binder", "https://github.com/o/r", "student", "notebooks/a.ipynb")
    assert decode(f"https://colab.research.google.com/github/{org_repo}"
                  "/blob/main/notebooks/a.ipynb") \
        == ("colab", "https://github.com/o/r", "main", "notebooks/a.ipynb")
    assert decode("https://hub.example.edu/hub/user-redirect/git-pull?repo=https://github.com/o/r"
                  "&urlpath=lab/tree/r/notebooks/a.ipynb&branch=student") \
        == ("jupyterhub", "https://github.com/o/r", "student", "notebooks/a.ipynb")
    for other in ("https://github.com/o/r", "../index.html", "https://mybinder.org",
                  "https://colab.research.google.com"):
        assert decode(other) is None, other


def _launch_links(site: Path) -> dict[str, list[tuple]]:
    """Every launch link of every page of ``site``, decoded, by page."""
    links = {}
    for page in sorted(site.rglob("*.html")):
        if "_static" in page.parts:
            continue
        found = [d for href in _hrefs(page) if (d := decode(href))]
        if found:
            links[page.relative_to(site).as_posix()] = found
    return links


# ------------------------------------------------------------------ what a link serves

def _git(*args: str) -> str:
    return subprocess.run(["git", f"--git-dir={BRANCH_DIR / '.git'}", *args], check=True,
                          capture_output=True, text=True).stdout


def _branch_tree(branch: str) -> list[str]:
    _require(BRANCH_DIR / ".git", "student branch")
    return [n for n in _git("ls-tree", "-r", "--name-only", branch).split("\n") if n]


def _served(branch: str, path: str) -> str:
    """The text that ``branch``:``path`` serves once the generated branch is pushed."""
    assert path in _branch_tree(branch), f"{branch}:{path} does not exist (a dead launch button)"
    return _git("show", f"{branch}:{path}")


_GATE = re.compile(r"^\s*(`{3,}|:{3,})\{(solution-start|solution-end|solution)\}")


def _solution_lines(full_nb: dict) -> set[str]:
    """Lines of the full notebook that belong to a solution (an independent scan).

    Inside solution-start ... solution-end (any cells), or inside a {solution} block up to
    its closing fence. Only lines of 25 characters or more that never occur outside a
    solution are kept, so that a shared line (an import, a blank) cannot match by chance.
    """
    inside_gate, block_fence = False, None
    solution, elsewhere = set(), set()
    for cell in full_nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for line in source.splitlines():
            match = _GATE.match(line) if cell["cell_type"] == "markdown" else None
            if block_fence is not None:
                solution.add(line.strip())
                if line.strip() and set(line.strip()) == {block_fence[0]} \
                        and len(line.strip()) >= len(block_fence):
                    block_fence = None
                continue
            if match and match.group(2) == "solution":
                block_fence = match.group(1)
                continue
            if match and match.group(2) == "solution-start":
                inside_gate = True
            (solution if inside_gate else elsewhere).add(line.strip())
            if match and match.group(2) == "solution-end":
                inside_gate = False
    return {line for line in solution - elsewhere if len(line) >= 25}


def _check_student_notebook(text: str, name: str, where: str):
    nb = json.loads(text)
    edition = nb["metadata"].get("lplr", {}).get("edition")
    assert edition == "student", f"{where}: not a student copy"
    full = json.loads((ROOT / "notebooks" / name).read_text(encoding="utf-8"))
    secret = _solution_lines(full)
    if any("{solution" in "".join(c["source"]) for c in full["cells"]):
        assert secret, f"{name}: the scan found no solution text in the full notebook"
    for index, cell in enumerate(nb["cells"]):
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        tags = cell.get("metadata", {}).get("tags", [])
        assert not any("solution" in t.lower() for t in tags), f"{where} cell {index}: {tags}"
        assert "{solution" not in source, f"{where} cell {index}: a solution directive"
        leaked = [line for line in source.splitlines() if line.strip() in secret]
        assert not leaked, f"{where} cell {index}: solution text {leaked[:2]}"
        if cell["cell_type"] == "code" and URL in source:       # it fetches the repository
            fetches = 0
            for line in source.splitlines():
                if "clone" in line:
                    fetches += 1
                    assert '"--branch", "student"' in line or "--branch student" in line, (
                        f"{where} cell {index} clones main: {line.strip()}")
            # pip from git: the URL written out, or through a name bound to it
            # (``repository = "URL"`` ... ``f"git+{repository}@student"``)
            refs = re.findall(rf"git\+{re.escape(URL)}(?:\.git)?(@[\w./-]+)?", source)
            for name in re.findall(rf"(\w+)\s*=\s*[\"']{re.escape(URL)}[\"']", source):
                refs += re.findall(rf"git\+\{{{name}\}}(@[\w./-]+)?", source)
            for ref in refs:
                assert ref == "@student", f"{where} cell {index} installs from {ref or 'main'}"
            fetches += len(refs)
            assert fetches, f"{where} cell {index} names the repository but installs nothing"


# ------------------------------------------------------------------ the tests

def test_every_student_launch_link_opens_a_solution_free_notebook():
    _require(STUDENT / "index.html", "student site")
    links = _launch_links(STUDENT)
    chapters = {f"notebooks/{Path(n).stem}.html" for n in NOTEBOOKS}
    assert chapters <= set(links), f"pages without launch buttons: {sorted(chapters - set(links))}"
    followed = {"binder": 0, "colab": 0, "jupyterhub": 0}
    for page, found in links.items():
        providers = [d[0] for d in found]
        assert providers.count("binder") == 1 and providers.count("colab") == 1, (page, providers)
        for provider, repo_url, branch, path in found:
            where = f"{page} -> {provider} {branch}:{path}"
            assert repo_url == URL, f"{where}: repository {repo_url}, _config.yml says {URL}"
            assert branch == "student", f"{where}: the student site opens branch {branch}"
            assert path == page.removesuffix(".html") + ".ipynb", where
            _check_student_notebook(_served(branch, path), Path(path).name, where)
            followed[provider] += 1
    assert followed["binder"] == followed["colab"] == len(NOTEBOOKS), followed
    # A JupyterHub button exists only where the build was given a hub (--jupyterhub-url):
    # then every chapter has one, and each was followed above.
    built = yaml.safe_load((STUDENT_SRC / "_config.yml").read_text(encoding="utf-8"))
    has_hub = bool(built.get("launch_buttons", {}).get("jupyterhub_url"))
    assert followed["jupyterhub"] == (len(NOTEBOOKS) if has_hub else 0), followed
    print(f"\nfollowed {sum(followed.values())} launch links: {followed}")


def test_the_student_branch_holds_no_solution_anywhere():
    """Binder and JupyterHub check out the whole branch; Colab's first cell pip-installs it."""
    names = _branch_tree("student")
    assert {f"notebooks/{n}" for n in NOTEBOOKS} <= set(names)
    assert not any(n.startswith("book/") for n in names), "book sources on the branch"
    for name in names:
        if name.endswith((".npz", ".npy", ".png")):
            continue
        text = _git("show", f"student:{name}")
        assert "{solution" not in text, f"student:{name} holds a solution directive"
        if name.endswith(".ipynb"):
            _check_student_notebook(text, Path(name).name, f"student:{name}")


def test_no_link_of_the_student_site_leads_to_the_main_branch():
    _require(STUDENT / "index.html", "student site")
    org_repo = URL.removeprefix("https://github.com/")
    for page in sorted(STUDENT.rglob("*.html")):
        if "_static" in page.parts:
            continue
        for href in _hrefs(page):
            if org_repo in href and not decode(href):
                pytest.fail(f"{page.relative_to(STUDENT)} links the repository outside a launch "
                            f"button (it would show main, solutions included): {href}")


def test_full_site_launch_links_still_open_main():
    _require(FULL / "index.html", "full site")
    links = _launch_links(FULL)
    assert {f"notebooks/{Path(n).stem}.html" for n in NOTEBOOKS} <= set(links)
    for page, found in links.items():
        for provider, repo_url, branch, path in found:
            assert (repo_url, branch) == (URL, "main"), (page, provider, repo_url, branch)
            assert (ROOT / path).is_file(), f"{page} -> {provider}: no {path} on main"
