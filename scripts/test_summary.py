#!/usr/bin/env python3
"""Add up the JUnit files of one test run (ctest, ctest under ASan, pytest)
and the steps file written by scripts/test.sh; print one line per suite,
the names of failed tests, and finally

    summary: N passed, N failed[, N skipped]

Exit status 1 if anything failed (a failed or broken step counts as one
failure), else 0. Usage: test_summary.py RESULTS_DIR
"""
import pathlib
import sys
import xml.etree.ElementTree as ET


def count(xml_path):
    passed, failed, skipped, names = 0, 0, 0, []
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as e:
        return 0, 1, 0, [f"{xml_path.name}: unreadable JUnit file ({e})"]
    for tc in root.iter("testcase"):
        tags = {child.tag for child in tc}
        # ctest marks outcomes with status="fail"/"notrun" as well as child tags
        status = tc.get("status", "")
        name = ".".join(x for x in (tc.get("classname"), tc.get("name")) if x)
        if "failure" in tags or "error" in tags or status == "fail":
            failed += 1
            names.append(name)
        elif "skipped" in tags or status in ("notrun", "disabled"):
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped, names


def main():
    results = pathlib.Path(sys.argv[1])
    total = [0, 0, 0]
    failed_names = []
    suite_failed = {}
    for xml in sorted(results.glob("*.xml")):
        p, f, s, names = count(xml)
        suite_failed[xml.stem] = f
        total[0] += p
        total[1] += f
        total[2] += s
        failed_names += [f"{xml.stem}: {n}" for n in names]
        print(f"{xml.stem:12s} {p} passed, {f} failed" + (f", {s} skipped" if s else ""))
    steps = results / "steps.txt"
    if steps.exists():
        for line in steps.read_text().splitlines():
            name, _, state = line.partition(" ")
            if name == "rc":
                # A runner that exited non-zero without a failure in its
                # JUnit file (crash, timeout, no file at all) still fails.
                suite, _, code = state.partition(" ")
                if code != "0" and not suite_failed.get(suite):
                    total[1] += 1
                    failed_names.append(f"{suite}: runner exited with status {code}"
                                        + ("" if suite in suite_failed else " and wrote no results"))
            elif state in ("failed", "skipped"):
                total[1] += 1
                failed_names.append(f"step {name}: {state}")
    for n in failed_names[:60]:
        print(f"  FAILED {n}")
    if len(failed_names) > 60:
        print(f"  ... and {len(failed_names) - 60} more")
    line = f"summary: {total[0]} passed, {total[1]} failed"
    if total[2]:
        line += f", {total[2]} skipped"
    print(line)
    (results / "summary.txt").write_text(line + "\n")
    return 1 if total[1] else 0


if __name__ == "__main__":
    sys.exit(main())
