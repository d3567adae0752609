"""The docs stay true to the tree: links lead somewhere; every setting, command, option and make target is
written down; the README's diagram names the modules that exist; and the documents that name tests name
tests that exist (RELIABILITY.md says which test holds each case). No model, no network."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import re
import typing
from pathlib import Path

import pytest
from pydantic import AliasChoices, AliasPath

from cli.main import build_parser
from config import Settings
from index.types import ReasonKind
from tests.helpers import ROOT

TESTS = ROOT / "tests"
_CODE = re.compile(r"`([^`\n]+)`")
# `test_x.py`, `tests/test_x.py`, `test_x.py::name`, `test_x.py::name[param]`, `test_x.py::prefix…`
_REFERENCE = re.compile(r"^(?:tests/)?(?P<file>test_\w+\.py)(?:::(?P<name>[^\s`]+))?$")
# `…middle…` or `…suffix`: a test of the file named last in the same table cell
_FRAGMENT = re.compile(r"^…(?P<name>\w+)(?P<open>…?)$")


@functools.cache
def defined_tests(path: Path) -> set[str]:
    """Names of the test functions and classes defined in a test module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.name.startswith(("test_", "Test"))
    }


def _matches(pattern: str, names: set[str], *, prefix: bool, suffix: bool) -> bool:
    if prefix and suffix:
        return any(pattern in name for name in names)
    if prefix:
        return any(name.startswith(pattern) for name in names)
    if suffix:
        return any(name.endswith(pattern) for name in names)
    return pattern in names


def missing_tests(markdown: str, tests: Path = TESTS) -> list[str]:
    """Every test reference in `markdown` that names no existing test file or test, as written there.

    Table cells are read separately, so `…fragment…` belongs to the file named before it in its cell.
    A trailing `…` means "a test whose name starts so"; `[params]` are ignored.
    """
    missing: list[str] = []
    for line in markdown.splitlines():
        for cell in line.split("|"):
            current: str | None = None
            for code in _CODE.findall(cell):
                code = code.strip()
                reference, fragment = _REFERENCE.match(code), _FRAGMENT.match(code)
                if reference:
                    current = reference["file"]
                    path = tests / current
                    if not path.is_file():
                        missing.append(code)
                        continue
                    name = reference["name"]
                    if name is None:
                        continue
                    name = name.split("[", 1)[0]
                    open_end = name.endswith("…")
                    if not _matches(name.rstrip("…"), defined_tests(path), prefix=open_end, suffix=False):
                        missing.append(code)
                elif fragment and current is not None:
                    names = defined_tests(tests / current)
                    if not _matches(fragment["name"], names, prefix=bool(fragment["open"]), suffix=True):
                        missing.append(f"{current}::{code}")
    return missing


def references(markdown: str) -> int:
    """How many test references the markdown holds (so a parser that finds none cannot pass)."""
    return sum(1 for code in _CODE.findall(markdown) if _REFERENCE.match(code.strip()))


def test_every_test_named_in_reliability_md_exists() -> None:
    text = (ROOT / "RELIABILITY.md").read_text(encoding="utf-8")
    assert references(text) >= 20, "RELIABILITY.md names its tests as `test_file.py::test_name`"
    assert missing_tests(text) == []


@pytest.mark.parametrize(
    ("reference", "found"),
    [
        ("`test_bot.py::test_admin_gate_on_every_admin_command`", True),
        ("`test_bot.py::test_admin_gate_on_every_admin_command_renamed`", False),
        ("`test_bot.py::test_a_handler_error_reaches…`", True),
        ("`test_bot.py::test_no_such…`", False),
        ("`test_backends.py::test_a_failed_clean_up_is_finished_by_the_next_build[milvus]`", True),
        ("`tests/test_render.py`", True),
        ("`test_gone.py`", False),
        ("`test_indexing.py::test_manifest_from_a_future_format_is_refused`, `…other_chunking…`", True),
        ("`test_indexing.py::test_manifest_from_a_future_format_is_refused`, `…other_knitting…`", False),
        ("| `test_corpus.py::test_missing_seeds_folder_is_a_clear_error` | `…other_chunking…` |", True),
    ],
)
def test_references_are_checked(reference: str, found: bool) -> None:
    assert (missing_tests(reference) == []) is found


# -- links, settings, the command line, make targets and the README's diagram ----------

CONFIGURATION = ROOT / "docs" / "configuration.md"
CLI = ROOT / "docs" / "cli.md"
# Variables the compose files read for themselves (docs/configuration.md, "Compose files only").
COMPOSE_ONLY = {"FOOTNOTE_DOMAIN", "FOOTNOTE_REPLICAS"}

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_ROW_NAME = re.compile(r"^\|\s*`(FOOTNOTE_[A-Z0-9_]+)`\s*\|", re.MULTILINE)


def doc_pages() -> list[Path]:
    """The README and every page in docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def prose(markdown: str) -> str:
    """Markdown without its code blocks and code spans, where links are only examples."""
    return _INLINE_CODE.sub("", _FENCE.sub("", markdown))


def slug(heading: str) -> str:
    """A heading's anchor as code hosts make it: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings."""
    return {slug(h) for h in _HEADING.findall(_FENCE.sub("", page.read_text(encoding="utf-8")))}


def broken_links(page: Path) -> list[str]:
    """Relative links of `page` that lead to no file, or to no heading of a Markdown file."""
    broken = []
    for target in _LINK.findall(prose(page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # https:, mailto:
            continue
        path_part, _, fragment = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{target} (no such file)")
        elif fragment and destination.suffix == ".md" and fragment not in anchors(destination):
            broken.append(f"{target} (no heading #{fragment})")
    return broken


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file(page: Path) -> None:
    broken = broken_links(page)
    assert broken == [], f"{page.relative_to(ROOT)}: broken links {broken}"


def test_the_link_check_sees_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# A heading\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md) [ok](there.md#a-heading) [web](https://example.org/x) [self](#top)\n"
        "# Top\n[gone](docs/missing.md) [bad anchor](there.md#nothing)\n"
        "```\n[in code](not-checked.md)\n```\n`[span](not-checked-either.md)`\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        "docs/missing.md (no such file)",
        "there.md#nothing (no heading #nothing)",
    ]


def env_names(settings: type[Settings]) -> set[str]:
    """The environment variable of every field of a Settings model (its env_prefix + the field name)."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    names = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias or field.alias
        if isinstance(alias, str):
            names.add(alias.upper())
        elif isinstance(alias, (AliasChoices, AliasPath)):
            raise AssertionError(f"{name}: teach env_names() about {type(alias).__name__}")
        else:
            names.add((prefix + name).upper())
    return names


def documented_settings(text: str) -> set[str]:
    """The FOOTNOTE_* names that have a table row of their own (`| `FOOTNOTE_X` | default | meaning |`)."""
    return set(_ROW_NAME.findall(text))


def test_every_setting_has_its_row_in_the_configuration_page() -> None:
    documented = documented_settings(CONFIGURATION.read_text(encoding="utf-8"))
    missing = sorted(env_names(Settings) - documented)
    assert missing == [], f"docs/configuration.md has no row for {missing}"


def test_the_configuration_page_documents_no_setting_that_is_gone() -> None:
    documented = documented_settings(CONFIGURATION.read_text(encoding="utf-8"))
    unknown = sorted(documented - env_names(Settings) - COMPOSE_ONLY)
    assert unknown == [], f"docs/configuration.md documents settings Footnote does not have: {unknown}"


def shown_default(value: object) -> str:
    """A default as the configuration page writes it (`50000`, `30`, `false`, `data/index`)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def wrong_defaults(settings: type[Settings], text: str) -> list[str]:
    """Settings whose row gives another default than the model (unset defaults may be described freely)."""
    rows = dict(re.findall(r"^\|\s*`(FOOTNOTE_[A-Z0-9_]+)`\s*\|\s*([^|]*?)\s*\|", text, re.MULTILINE))
    prefix = str(settings.model_config.get("env_prefix", ""))
    wrong = []
    for name, field in settings.model_fields.items():
        env = (prefix + name).upper()
        if field.default is None or field.default_factory is not None or env not in rows:
            continue
        if rows[env] != f"`{shown_default(field.default)}`":
            wrong.append(f"{env}: {rows[env]} (the code says {shown_default(field.default)})")
    return wrong


@pytest.mark.parametrize("page", [CONFIGURATION, ROOT / "README.md"], ids=lambda p: p.name)
def test_every_default_written_in_a_settings_table_is_the_code_s(page: Path) -> None:
    assert wrong_defaults(Settings, page.read_text(encoding="utf-8")) == []


def test_the_default_check_sees_a_changed_default() -> None:
    class Changed(Settings):
        top_k: int = 7

    assert "FOOTNOTE_TOP_K: `5` (the code says 7)" in wrong_defaults(
        Changed, CONFIGURATION.read_text(encoding="utf-8")
    )


def test_the_settings_check_fails_on_a_missing_setting() -> None:
    class Grown(Settings):
        brand_new_knob: int = 3

    page = "\n".join(f"| `{name}` | `1` | a knob |" for name in sorted(env_names(Settings)))
    assert sorted(env_names(Grown) - documented_settings(page)) == ["FOOTNOTE_BRAND_NEW_KNOB"]


def _option_pattern(option: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(option)}(?![\w-])")


def _paragraphs(text: str) -> list[str]:
    """Bullets and paragraphs of a page, each as one string."""
    return [p for p in re.split(r"\n\s*\n|\n(?=- )", text) if p.strip()]


def undocumented_cli(parser: argparse.ArgumentParser, text: str) -> list[str]:
    """Commands and options of `parser` that the page does not mention (a command's options must appear in
    a paragraph or bullet that names `footnote COMMAND`)."""
    missing = []
    paragraphs = _paragraphs(text)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                named = [p for p in paragraphs if _option_pattern(f"footnote {command}").search(p)]
                if not named:
                    missing.append(f"footnote {command}")
                    continue
                for sub_action in sub._actions:
                    for option in sub_action.option_strings:
                        if option not in {"-h", "--help"} and not any(
                            _option_pattern(option).search(p) for p in named
                        ):
                            missing.append(f"footnote {command} {option}")
        else:
            for option in action.option_strings:
                if option not in {"-h", "--help"} and not _option_pattern(option).search(text):
                    missing.append(f"footnote {option}")
    return missing


def test_every_command_and_option_is_in_the_cli_page() -> None:
    missing = undocumented_cli(build_parser(), CLI.read_text(encoding="utf-8"))
    assert missing == [], f"docs/cli.md does not mention {missing}"


def test_the_cli_page_shows_the_help_footnote_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    blocks = [m.group(0) for m in _FENCE.finditer(CLI.read_text(encoding="utf-8"))]
    shown = next(b for b in blocks if "usage: footnote [" in b).split("\n", 1)[1].rsplit("```", 1)[0]
    assert shown == build_parser().format_help(), "paste `COLUMNS=100 footnote --help` into docs/cli.md"


def test_the_cli_check_fails_on_a_missing_option() -> None:
    text = CLI.read_text(encoding="utf-8")
    before = undocumented_cli(build_parser(), text)
    parser = build_parser()
    parser.add_argument("--brand-new-flag", action="store_true")
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands.choices["stats"].add_argument("--brand-new-option")
    after = undocumented_cli(parser, text)
    assert sorted(set(after) - set(before)) == [
        "footnote --brand-new-flag",
        "footnote stats --brand-new-option",
    ]


def readme_diagram() -> str:
    """The one Mermaid diagram of the README."""
    diagrams = re.findall(r"^```mermaid\n(.*?)^```", (ROOT / "README.md").read_text("utf-8"), re.M | re.S)
    assert len(diagrams) == 1, "the README has one Mermaid diagram"
    return str(diagrams[0])


def test_the_readme_diagram_names_modules_that_exist() -> None:
    for label in re.findall(r'"([^"]*)"', readme_diagram()):
        place = re.match(r"((?:index|bot|cli|config)(?:/[\w.]+)*)/?", label)
        if place is None:
            continue
        path = ROOT / place.group(1)
        assert path.exists(), f"the README's diagram names {place.group(1)}, which does not exist"
        if path.is_dir():
            for module in re.findall(r"\b(\w+\.py)\b", label):
                assert (path / module).is_file(), f"the README's diagram names {path.name}/{module}"


def test_the_readme_diagram_shows_every_room_of_index() -> None:
    diagram = readme_diagram()
    rooms = sorted(p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "index").glob("*/__init__.py"))
    for room in [*rooms, "index/pipeline.py", "bot/", "cli/"]:
        assert room in diagram, f"the README's diagram does not show {room}"


def make_targets() -> set[str]:
    """The targets the Makefile defines."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", makefile, re.MULTILINE))


def make_commands(markdown: str) -> set[str]:
    """The targets of every `make X` written as code: in a code span, or at the start of a code line."""
    spans = re.findall(r"`make ([A-Za-z][\w-]*)", markdown)
    code = "\n".join(block.group(0) for block in _FENCE.finditer(markdown))
    return set(spans) | set(re.findall(r"^\s*make ([A-Za-z][\w-]*)", code, re.MULTILINE))


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_make_command_in_the_docs_is_a_target(page: Path) -> None:
    unknown = sorted(make_commands(page.read_text(encoding="utf-8")) - make_targets())
    assert unknown == [], f"{page.relative_to(ROOT)} mentions make targets the Makefile lacks: {unknown}"


def test_the_make_check_reads_spans_and_code_lines() -> None:
    text = "Run `make run`, or make the bot an admin.\n```sh\nmake test    # all\n```\n"
    assert make_commands(text) == {"run", "test"}


def test_every_abstention_reason_code_is_listed_in_the_cli_docs() -> None:
    cli = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    missing = [code for code in typing.get_args(ReasonKind) if f"`{code}`" not in cli]
    assert not missing, f"docs/cli.md does not list reason codes {missing}"


def test_every_module_is_named_in_the_architecture_doc() -> None:
    """docs/architecture.md names every module of index/, bot/ and cli/ (a new one cannot go unmentioned)."""
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    modules = [
        p.relative_to(ROOT)
        for package in ("index", "bot", "cli")
        for p in (ROOT / package).rglob("*.py")
        if p.name != "__init__.py"
    ]
    missing = [str(m) for m in modules if m.name not in doc]
    assert missing == [], f"docs/architecture.md does not name {missing}"


def parameter_table() -> str:
    """The table of answer parameters docs/tuning.md must hold, made from the code's own constants."""
    from index.pipeline import VAGUE_FOLLOW_UP_MARGIN
    from index.query.answer import AnswerParams
    from index.query.engine import EngineParams
    from index.query.reader import THRESHOLDS, ReaderWeights

    rows = ["| parameter | value |", "|---|---|"]
    for owner in (AnswerParams, EngineParams):
        for f in dataclasses.fields(owner):
            if f.name != "answer":
                rows.append(f"| `{owner.__name__}.{f.name}` | {f.default} |")
    for key, calibration in ReaderWeights.load().thresholds.items():
        for name in THRESHOLDS:
            rows.append(f"| `thresholds.{key}.{name}` | {getattr(calibration, name)} |")
    rows.append(f"| `VAGUE_FOLLOW_UP_MARGIN` | {VAGUE_FOLLOW_UP_MARGIN} |")
    return "\n".join(rows)


def test_the_tuning_page_states_the_codes_parameters() -> None:
    """docs/tuning.md's parameter table is the code's constants (regenerate it from this test's output)."""
    page = (ROOT / "docs" / "tuning.md").read_text(encoding="utf-8")
    start = page.index("<!-- parameters -->") + len("<!-- parameters -->\n")
    table = page[start : page.index("<!-- /parameters -->")].strip()
    assert table == parameter_table(), "docs/tuning.md: paste this table:\n" + parameter_table()
