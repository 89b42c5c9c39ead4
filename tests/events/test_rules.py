"""Rules: the schema's errors name the rule and the key; globs; loops refused at load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from preserve.errors import ConfigError
from preserve.events.globs import compile_glob, intersect
from preserve.events.rules import check_loops, load, parse

DCACHE = "dcache+https://door.example:3880/api/v1"


def rule(name: str = "integrate", **changes: Any) -> dict[str, Any]:
    on = {"source": DCACHE, "path": "/beamtime/{beamtime}/raw/**/*.h5"}
    run = {
        "function": "10.5072/preserve.xyz",
        "outputs": "davs://door/bt/{beamtime}/processed/{stem}/",
    }
    on.update(changes.pop("on", {}))
    run.update(changes.pop("run", {}))
    return {"name": name, "on": on, "run": run, **changes}


def refused(document: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(document)
    return caught.value.message


def test_the_issue_example_loads_with_defaults(tmp_path: Path) -> None:
    text = """\
rules:
  - name: integrate-new-scans
    on:
      source: dcache+https://door.example:3880/api/v1
      path: /beamtime/{beamtime}/raw/**/*.h5
      events: [IN_CLOSE_WRITE, IN_MOVED_TO]
      settle: 2s
    run:
      function: 10.5072/preserve.xyz
      target: local
      input: frames
      outputs: davs://door.example/beamtime/{beamtime}/processed/{stem}/
      max_concurrency: 4
      retries: 3
"""
    (tmp_path / "rules.yaml").write_text(text)
    rules = load(tmp_path / "rules.yaml")
    r = rules.rules[0]
    assert (r.name, r.kind, r.settle, r.retries, r.max_concurrency) == (
        "integrate-new-scans",
        "dcache",
        2.0,
        3,
        4,
    )
    assert r.events == {"IN_CLOSE_WRITE", "IN_MOVED_TO"} and rules.max_depth == 5
    assert r.glob.match("/beamtime/p21-7/raw/a/b/scan.h5") == {"beamtime": "p21-7"}
    assert r.glob.match("/beamtime/p21-7/raw/scan.h5.part") is None
    out = r.output_folder("/beamtime/p21-7/raw/a/scan 1.h5", {"beamtime": "p21-7"}, "ab" * 32)
    assert out == "davs://door.example/beamtime/p21-7/processed/scan%201/"


@pytest.mark.parametrize(
    ("document", "says"),
    [
        (
            {"rules": [rule(on={"path": 7})]},
            "rule 'integrate': at on.path: 7 is not of type 'string'",
        ),
        (
            {"rules": [rule(run={"retries": -1})]},
            "rule 'integrate': at run.retries: -1 is less than",
        ),
        ({"rules": [rule(on={"settle": "soon"})]}, "rule 'integrate': at on.settle:"),
        (
            {"rules": [rule(on={"wat": 1})]},
            "rule 'integrate': at on: unknown key ('wat' was unexpected)",
        ),
        ({"rules": [rule(on={"source": "ftp://x/y"})]}, "rule 'integrate': at on.source:"),
        ({"rules": [rule(), rule()]}, "rule 'integrate': the name is used twice"),
        (
            {"rules": [rule(run={"outputs": "davs://d/{nope}/"})]},
            "rule 'integrate': at run.outputs: unknown placeholder {nope}",
        ),
        (
            {"rules": [rule(run={"outputs": "s3://b/x/"})]},
            "rule 'integrate': at run.outputs: s3 scheme",
        ),
        (
            {"rules": [rule(on={"events": ["IN_CREATE"]})]},
            "rule 'integrate': at on.events: IN_CREATE cannot start",
        ),
        (
            {"rules": [rule(on={"path": "/a/**x/b"})]},
            "rule 'integrate': at on.path: ** must be a whole folder",
        ),
        (
            {"rules": [rule(on={"path": "scan/*.h5"})]},
            "rule 'integrate': at on.path: a dCache path starts with /",
        ),
        ({"rule": []}, "at : 'rules' is a required property"),
    ],
)
def test_errors_name_the_rule_and_the_key(document: Any, says: str) -> None:
    message = refused(document)
    assert says.replace("at : ", "") in message, message


def test_a_relative_path_of_a_folder_source_is_inside_the_folder() -> None:
    out = {"outputs": "file:///data/out/{stem}/"}
    rules = parse({"rules": [rule(on={"source": "file:///data/in/", "path": "**/*.h5"}, run=out)]})
    assert rules.rules[0].glob.text == "/data/in/**/*.h5"
    assert rules.rules[0].events == {"IN_CLOSE_WRITE", "IN_MOVED_TO"}
    ce_on = {"source": "cloudevents+http://127.0.0.1:9", "path": "https://d/**"}
    ce = parse({"rules": [rule(on=ce_on, run=out)]})
    assert ce.rules[0].events is None  # any CloudEvent type unless listed


def door(r: Any) -> str:
    return "davs://door" + r.glob.text


def test_a_rule_matching_its_own_outputs_is_refused() -> None:
    rules = parse(
        {"rules": [rule(on={"path": "/bt/**/*.h5"}, run={"outputs": "davs://door/bt/out/{stem}/"})]}
    )
    with pytest.raises(ConfigError, match="rule 'integrate' matches its own outputs"):
        check_loops(rules, door)


def test_a_cycle_is_refused_and_a_chain_is_not() -> None:
    raw, proc = {"path": "/bt/raw/**/*.txt"}, {"path": "/bt/proc/**/*.txt"}
    first = rule("first", on=raw, run={"outputs": "davs://door/bt/proc/{stem}/"})
    second = rule("second", on=proc, run={"outputs": "dav://DOOR/bt/raw/again/{stem}/"})
    with pytest.raises(ConfigError, match="rules 'first' -> 'second' -> 'first' form a loop"):
        check_loops(parse({"rules": [first, second]}), door)
    second["run"]["outputs"] = "davs://door/bt/summary/{stem}/"
    check_loops(parse({"rules": [first, second]}), door)  # a chain: fine
    elsewhere = rule("x", on=raw, run={"outputs": "davs://other/bt/raw/{stem}/"})
    check_loops(parse({"rules": [elsewhere]}), door)  # another storage


def test_globs() -> None:
    g = compile_glob("/a/{x}/**/*.h5")
    assert g.root == "/a" and g.names == ("x",)
    assert g.could_contain("/a") and g.could_contain("/a/b/c/d") and not g.could_contain("/b")
    assert g.match("/a/b/c.h5") == {"x": "b"} and g.match("/a/b/c/d.h5") == {"x": "b"}
    assert g.match("/a/b.h5") is None
    assert intersect(("a", "*.csv"), ("a", "x*")) and not intersect(("a", "*.csv"), ("a", "*.h5"))
    assert intersect(("**",), ("a", "b")) and not intersect(("a", "b"), ("a",))
