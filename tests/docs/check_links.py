#!/usr/bin/env python3
"""No Markdown link in the repository's documentation points outside the repository.

    tests/docs/check_links.py REPO_ROOT

Checks README.md, BENCHMARKS.md and every docs/**/*.md under REPO_ROOT. For each link
(inline `[text](target)` and `![alt](target)`, reference definitions `[label]: target`, and HTML
`href=`/`src=` attributes), outside fenced code blocks and code spans:

- a URL with a scheme (https:, mailto:, ...) or a bare #anchor is left alone, except file:, which
  is a filesystem path;
- an absolute path (/..., C:\\..., file:...) is an error;
- a relative target must stay inside REPO_ROOT once resolved (no ../ escaping it, also not through
  a symlink) and must exist.

Before looking at the repository the script checks itself on a scratch tree with one bad link of
each kind, so it cannot pass by having gone blind. Exit 0 when everything holds; 1 with one line
per problem, FILE:LINE: link 'TARGET': what is wrong; 2 on a usage error.
"""

import os
import re
import sys
import tempfile
from urllib.parse import unquote

SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
REF_DEF = re.compile(r"^ {0,3}\[(?:[^\]\\]|\\.)+\]:[ \t]*(?:<([^>\n]*)>|(\S+))", re.MULTILINE)
HTML_ATTR = re.compile(r"<[A-Za-z][^>]*?\b(?:href|src)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')", re.IGNORECASE)


def mask_code(text):
    """Blanks fenced code blocks and code spans (keeping newlines, so offsets and line numbers hold)."""
    out = []
    fence = None  # (char, length) of the open fence
    for line in text.splitlines(keepends=True):
        m = FENCE.match(line)
        if fence is None:
            if m:
                fence = (m.group(1)[0], len(m.group(1)))
                out.append(re.sub(r"[^\n]", " ", line))
            else:
                out.append(line)
        else:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= fence[1] and not line[m.end():].strip():
                fence = None
            out.append(re.sub(r"[^\n]", " ", line))
    text = "".join(out)
    # Code spans: a run of N backticks up to the next run of exactly N.
    chars = list(text)
    i = 0
    while i < len(text):
        if text[i] != "`":
            i += 1
            continue
        j = i
        while j < len(text) and text[j] == "`":
            j += 1
        run = j - i
        k = j
        close = -1
        while k < len(text):
            if text[k] == "`":
                e = k
                while e < len(text) and text[e] == "`":
                    e += 1
                if e - k == run:
                    close = k
                    break
                k = e
            else:
                k += 1
        if close < 0:
            i = j
            continue
        for p in range(i, close + run):
            if chars[p] != "\n":
                chars[p] = " "
        i = close + run
    return "".join(chars)


def inline_targets(text):
    """(offset, target) of every inline link or image destination: `](` then the destination."""
    pos = 0
    while True:
        at = text.find("](", pos)
        if at < 0:
            return
        i = at + 2
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "\n":  # the destination may start on the next line
            i += 1
            while i < len(text) and text[i] in " \t":
                i += 1
        start = i
        if i < len(text) and text[i] == "<":
            end = text.find(">", i + 1)
            nl = text.find("\n", i + 1)
            if end < 0 or (0 <= nl < end):
                pos = at + 2
                continue
            yield start, text[i + 1:end]
            pos = end + 1
            continue
        depth = 0
        while i < len(text):
            c = text[i]
            if c == "\\" and i + 1 < len(text):
                i += 2
                continue
            if c in " \t\n":
                break
            if c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    break
                depth -= 1
            i += 1
        yield start, text[start:i]
        pos = max(i, at + 2)


def links(text):
    """(offset, target) of every link in `text`, code already masked."""
    for off, target in inline_targets(text):
        yield off, target
    for m in REF_DEF.finditer(text):
        target = m.group(1) if m.group(1) is not None else m.group(2)
        yield m.start(), target
    for m in HTML_ATTR.finditer(text):
        target = m.group(1) if m.group(1) is not None else m.group(2)
        yield m.start(), target


def problem(root, md_path, target):
    """What is wrong with `target` linked from `md_path`, or None."""
    target = target.strip()
    if not target or target.startswith("#"):
        return None
    scheme = SCHEME.match(target)
    if scheme and len(scheme.group(0)) > 2:  # "C:" is a drive letter, not a scheme
        if scheme.group(0).lower() == "file:":
            return "is an absolute filesystem path (file: URL)"
        return None  # https:, mailto:, ...
    path = unquote(re.split(r"[#?]", target, maxsplit=1)[0])
    if not path:
        return None
    if path.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:", path):
        return "is an absolute filesystem path"
    resolved = os.path.normpath(os.path.join(os.path.dirname(md_path), path))
    real_root = os.path.realpath(root)
    if os.path.commonpath([os.path.abspath(resolved), os.path.abspath(root)]) != os.path.abspath(root):
        return "points outside the repository"
    real = os.path.realpath(resolved)
    if os.path.commonpath([real, real_root]) != real_root:
        return "points outside the repository (through a symlink)"
    if not os.path.exists(resolved):
        return "does not exist"
    return None


def files_to_check(root):
    out = []
    for name in ("README.md", "BENCHMARKS.md"):
        p = os.path.join(root, name)
        if os.path.isfile(p):
            out.append(p)
    docs = os.path.join(root, "docs")
    for dirpath, dirnames, filenames in os.walk(docs):
        dirnames.sort()
        for f in sorted(filenames):
            if f.endswith(".md"):
                out.append(os.path.join(dirpath, f))
    return out


def check(root):
    """Returns (problems, files checked, links checked)."""
    problems = []
    files = files_to_check(root)
    if not os.path.isfile(os.path.join(root, "README.md")):
        problems.append("README.md: not found in " + root)
    n_links = 0
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        masked = mask_code(text)
        rel = os.path.relpath(path, root)
        for off, target in sorted(links(masked)):
            n_links += 1
            why = problem(root, path, target)
            if why:
                line = masked.count("\n", 0, off) + 1
                problems.append(f"{rel}:{line}: link '{target}' {why}")
    return problems, len(files), n_links


def self_test():
    """The checker on a scratch tree: the good links pass, each bad one is reported at its line."""
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "repo")
        os.makedirs(os.path.join(root, "docs", "sub"))
        outside = os.path.join(tmp, "outside.md")
        with open(outside, "w") as f:
            f.write("x\n")
        os.symlink(outside, os.path.join(root, "docs", "escape.md"))
        good = (
            "# ok\n"
            "[a](docs/a.md) [b](docs/a.md#part) [c](<docs/a b.md>) [d](docs/a%20b.md) ![i](docs/)\n"
            "[e](https://example.com/x) [f](mailto:a@example.com) [g](#top) [h](./LICENSE \"title\")\n"
            "[ref]: docs/a.md\n"
            "`[not a link](../code-span)` and\n"
            "```\n[not a link](/fenced)\n```\n"
            "<a href=\"docs/a.md\">html</a>\n"
        )
        files = {
            "README.md": good,
            "LICENSE": "MIT\n",
            "docs/a.md": "[up](../README.md) [sub](sub/c.md) [self](a.md)\n",
            "docs/a b.md": "[back](a.md)\n",
            "docs/sub/c.md": "[top](../../README.md)\n",
        }
        for name, text in files.items():
            with open(os.path.join(root, name), "w") as f:
                f.write(text)
        problems, _, n = check(root)
        if problems or n < 10:
            failures.append(f"a tree with only good links: {n} links, problems {problems}")
        bad = {
            "../shared/docs/interface.md": "points outside the repository",
            "docs/../../outside.md": "points outside the repository",
            "/etc/passwd": "is an absolute filesystem path",
            "file:///etc/passwd": "is an absolute filesystem path (file: URL)",
            "docs/missing.md": "does not exist",
            "docs/escape.md": "points outside the repository (through a symlink)",
        }
        for target, why in bad.items():
            for form in ("see\n[x]({})\n", "see\n\n[x]: {}\n", "see\n<img src=\"{}\">\n"):
                with open(os.path.join(root, "README.md"), "w") as f:
                    f.write(good + form.format(target))
                line = good.count("\n") + 2 + form.count("\n\n")
                problems, _, _ = check(root)
                want = f"README.md:{line}: link '{target}' {why}"
                if problems != [want]:
                    failures.append(f"{form.format(target)!r}: want [{want!r}], got {problems!r}")
        # A bad link in docs/ is found too, with its file and line.
        with open(os.path.join(root, "README.md"), "w") as f:
            f.write(good)
        with open(os.path.join(root, "docs", "sub", "c.md"), "w") as f:
            f.write("fine\n\n[top](../../../README.md)\n")
        problems, _, _ = check(root)
        want = ["docs/sub/c.md:3: link '../../../README.md' points outside the repository"]
        if problems != want:
            failures.append(f"bad link in docs/sub/c.md: want {want!r}, got {problems!r}")
    return failures


def main(argv):
    if len(argv) != 2 or not os.path.isdir(argv[1]):
        print("usage: check_links.py REPO_ROOT", file=sys.stderr)
        return 2
    failures = self_test()
    if failures:
        print("check_links.py: the checker's self-test failed (it would miss bad links):", file=sys.stderr)
        for f in failures:
            print("  " + f, file=sys.stderr)
        return 1
    root = os.path.abspath(argv[1])
    problems, n_files, n_links = check(root)
    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        print(f"{len(problems)} bad link(s); links must stay inside the repository and point at files that exist",
              file=sys.stderr)
        return 1
    print(f"{n_links} links in {n_files} files: all inside the repository and present")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
