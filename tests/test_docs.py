"""The README stays a two-minute page, and docs/ stays whole and true to the code.

`mkdocs build --strict` (run by .ci/run) catches a broken link inside the site; these tests
hold what it cannot see: the README's own length and links, every page in the nav, and the
reference pages against what sockviz really accepts and writes.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

from sockviz.engine.record import trace_format

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


def sockviz(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "sockviz", *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
        env=ENV,
    )
    return done.stdout


def nav_pages() -> list[str]:
    """The pages mkdocs.yml's nav names, in order (``- Title: page.md`` lines)."""
    text = (ROOT / "mkdocs.yml").read_text()
    nav = text[text.index("\nnav:") :]
    return re.findall(r"^\s+- [^:\n]+: (\S+\.md)\s*$", nav, flags=re.M)


def test_readme_is_at_most_250_lines():
    """The README is a page a newcomer reads in two minutes; the rest lives in docs/."""
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines: move the detail into docs/"


def test_readme_quick_start_shows_step_first():
    """The first command the Quick start shows is `sockviz --step`."""
    text = README.read_text()
    quick = text[text.index("## Quick start") :]
    first = re.search(r"```sh\n(.*?)\n", quick)
    assert first is not None
    assert first.group(1).strip() == "sockviz --step"


def test_readme_keeps_the_test_command_ci_reads():
    """.ci/run reads the test command from the first line of the ```sh fence after the
    marker: it must be there, and be the suite's pytest run."""
    lines = README.read_text().splitlines()
    at = lines.index("<!-- test-command -->")
    assert lines[at + 1] == "```sh"
    assert "-m pytest" in lines[at + 2]
    assert lines[at + 3] == "```"


def test_readme_teaching_path_runs_the_lesson_commands_in_order():
    """The lesson path goes --step, --quiz, lost-syn, the wire, two hosts."""
    text = README.read_text()
    path = text[text.index("## Teach with sockviz") : text.index("## Keys")]
    wanted = [
        "sockviz --step",
        "sockviz --quiz",
        "sockviz --scenario lost-syn --step",
        "sockviz --scenario refused --step",
        "--link delay=",
    ]
    places = [path.index(command) for command in wanted]
    assert places == sorted(places)


def test_readme_links_lead_to_files_that_exist():
    """Every relative link and image in the README names a file of this repository (and a
    page of docs/ that is in the site's nav)."""
    text = README.read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if "://" not in t]
    assert local, "the README links to no page of its own"
    pages = set(nav_pages())
    for target in local:
        assert (ROOT / target).exists(), target
        if target.startswith("docs/") and target.endswith(".md"):
            assert target.removeprefix("docs/") in pages, f"{target} is not in the nav"


def test_every_docs_page_is_in_the_nav_and_every_nav_page_exists():
    """No page of docs/ is left out of mkdocs.yml's nav, and the nav names no missing page."""
    pages = nav_pages()
    on_disk = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    assert sorted(pages) == on_disk
    assert len(pages) == len(set(pages)), "a page is in the nav twice"


def test_command_line_page_documents_every_option():
    """Every option `sockviz --help` lists is on the command-line page, and every option
    that page names is one sockviz takes."""
    page = (DOCS / "command-line.md").read_text()
    helped = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", sockviz("--help")))
    written = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", page))
    assert {"--step", "--quiz", "--trace", "--link", "--serve"} <= helped
    assert helped - written == set(), "options missing from docs/command-line.md"
    unknown = written - helped
    assert unknown == set(), "docs/command-line.md names options sockviz does not take"


def test_readme_and_scenarios_page_name_every_scenario():
    """Each scenario `sockviz --list` prints is in the README's table and on the scenarios
    page, and the README names no scenario that does not exist."""
    names = [line.split("  ")[0] for line in sockviz("--list").splitlines() if line]
    assert "lost-syn" in names
    readme, page = README.read_text(), (DOCS / "scenarios.md").read_text()
    for name in names:
        assert f"`{name}`" in readme, name
        assert f"`{name}`" in page, name
    table = readme[readme.index("## Scenarios") : readme.index("## Documentation")]
    rows = re.findall(r"^\| ([^|]+) \|", table, flags=re.M)
    listed = {n for row in rows for n in re.findall(r"`([a-z-]+)`", row)}
    assert listed == set(names)


def test_trace_format_page_names_every_key_and_no_other():
    """Each key trace_format writes is documented on the trace-format page, and each key
    the page's tables give a row is one it writes."""
    page = (DOCS / "trace-format.md").read_text()
    keys = set(
        trace_format.ALL_KEYS
        + trace_format.PACKET_KEYS
        + trace_format.SUM_KEYS
        + trace_format.LINK_KEYS
        + trace_format.FLOW_KEYS
        + trace_format.RELEASE_KEYS
        + trace_format.TCP_KEYS
        + (trace_format.SACK_KEY, trace_format.LOST_KEY, trace_format.POINTS_KEY)
        + (trace_format.TLS_KEY,)
        + (trace_format.READY_KEY,)
    )
    for key in sorted(keys):
        assert f"`{key}`" in page, f"trace key {key!r} is not documented"
    firsts = re.findall(r"^\| ([^|]+) \|", page, flags=re.M)
    rows = {k for cell in firsts if "`" in cell for k in re.findall(r"`([a-z_]+)`", cell)}
    assert rows, "no key table found"
    assert rows - keys == set(), "the page documents keys a trace does not have"


#: The README writes a few keys as a person reads them.
KEY_NAMES = {"→": "right", "←": "left", "+": "plus", "-": "minus", "?": "question_mark"}


def bound_keys() -> set[str]:
    """Every key the app and its run screen bind, and the command palette's when it is on."""
    from sockviz.app.app import SockvizApp
    from sockviz.app.run_screen import RunScreen

    keys = {
        key.strip()
        for binding in [*SockvizApp.BINDINGS, *RunScreen.BINDINGS]
        for key in getattr(binding, "key", "").split(",")
    }
    if SockvizApp.ENABLE_COMMAND_PALETTE:
        keys.add(SockvizApp.COMMAND_PALETTE_BINDING)
    return keys


def test_readme_keys_are_keys_the_app_binds():
    """Each key in the README's table does something in the app (a key written there that
    nothing binds would leave a teacher pressing it in front of the class)."""
    readme = README.read_text()
    table = readme[readme.index("## Keys") : readme.index("## Scenarios")]
    cells = re.findall(r"^\| ([^|]+) \|", table, flags=re.M)
    written = {KEY_NAMES.get(k, k) for cell in cells for k in re.findall(r"`([^`]+)`", cell)}
    assert {"right", "left", "space", "q"} <= written
    bound = bound_keys()
    missing = written - bound
    assert missing == set(), f"README keys the app does not bind: {sorted(missing)}"


def test_every_sockviz_command_written_uses_real_options():
    """An option written in a `sockviz ...` command anywhere in the README or docs/ is one
    sockviz takes (a renamed option leaves no lesson command behind)."""
    helped = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", sockviz("--help")))
    allowed = helped
    command = re.compile(
        r"(?<![\w/.-])sockviz((?: +(?:--?[a-z][\w-]*(?:[ =][^\s`|#]+)?|\[[^\]]*\]|[A-Z.]+))+)"
    )
    seen: dict[str, str] = {}
    for path in [README, *sorted(DOCS.glob("*.md"))]:
        for match in command.finditer(path.read_text()):
            for flag in re.findall(r"(--[a-z][a-z-]*)", match.group(1)):
                seen.setdefault(flag, path.name)
    assert {"--step", "--quiz", "--scenario", "--link", "--hold"} <= set(seen)
    wrong = {flag: page for flag, page in seen.items() if flag not in allowed}
    assert wrong == {}, "options sockviz does not take"
