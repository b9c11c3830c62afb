//! The repository stands on its own: every relative Markdown link in every `*.md`
//! file resolves to a file of the repository (and a `#anchor` to a heading of the
//! linked document), and no file points at the house plan outside the repository
//! (the forbidden strings below). No network, no peers.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Strings that name documents outside the repository. Built from pieces so this
/// file does not contain them itself.
fn forbidden() -> Vec<String> {
    let docs = ["protocol", "architecture", "style"]
        .iter()
        .map(|d| format!("docs/{d}.md"));
    [format!("../{}", "shared"), format!("{}/", "seed")]
        .into_iter()
        .chain(docs)
        .collect()
}

fn files() -> Vec<PathBuf> {
    cpmd_tests::repository_files()
}

/// The text of a Markdown file outside fenced code blocks and inline code spans
/// (links there are examples, not links).
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut in_code = false;
        for c in line.chars() {
            if c == '`' {
                in_code = !in_code;
            } else if !in_code {
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

/// The targets of the inline links `[text](target)` in `prose`.
fn link_targets(prose: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = prose;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        if let Some(end) = rest.find(')') {
            let target = rest[..end].split_whitespace().next().unwrap_or_default();
            out.push(target.trim_matches(['<', '>']).to_owned());
            rest = &rest[end..];
        }
    }
    out
}

/// GitHub's anchor of a heading: lower case, punctuation other than `-` and `_`
/// dropped, spaces turned into `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown document's headings (repeated headings get `-1`, `-2`).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        if fenced {
            continue;
        }
        let base = slug(heading.trim_start_matches('#').replace('`', "").as_str());
        let mut anchor = base.clone();
        let mut n = 0;
        while !out.insert(anchor.clone()) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
    }
    out
}

/// What is wrong with the relative links of the Markdown file `md`.
fn broken_links(md: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(md).expect("markdown is UTF-8");
    let mut broken = Vec::new();
    for target in link_targets(&prose(&text)) {
        if target.contains("://") || target.starts_with("mailto:") || target.is_empty() {
            continue;
        }
        let (path, anchor) = match target.split_once('#') {
            Some((p, a)) => (p, Some(a)),
            None => (target.as_str(), None),
        };
        let file = if path.is_empty() {
            md.to_path_buf()
        } else {
            md.parent().expect("in a directory").join(path)
        };
        if !file.exists() {
            broken.push(format!("{}: {target}: no such file", md.display()));
            continue;
        }
        let Some(anchor) = anchor else {
            continue;
        };
        if file.extension().and_then(|e| e.to_str()) != Some("md") {
            continue;
        }
        let linked = std::fs::read_to_string(&file).expect("markdown is UTF-8");
        if !anchors(&linked).contains(anchor) {
            broken.push(format!("{}: {target}: no such heading", md.display()));
        }
    }
    broken
}

#[test]
fn every_relative_markdown_link_resolves() {
    let markdown: Vec<PathBuf> = files()
        .into_iter()
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("md"))
        .collect();
    assert!(
        markdown.len() >= 10,
        "found only {} Markdown files: {markdown:?}",
        markdown.len()
    );
    let broken: Vec<String> = markdown.iter().flat_map(|md| broken_links(md)).collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn nothing_points_outside_the_repository() {
    let me = Path::new(file!())
        .file_name()
        .expect("file name")
        .to_owned();
    let forbidden = forbidden();
    let mut found = Vec::new();
    for path in files() {
        if path.file_name() == Some(me.as_os_str())
            && path.parent().is_some_and(|d| d.ends_with("tests/tests"))
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // not text
        };
        for (n, line) in text.lines().enumerate() {
            for f in &forbidden {
                if line.contains(f.as_str()) {
                    found.push(format!("{}:{}: {f}", path.display(), n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "files pointing outside the repository (cite specs/ instead):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_checks_can_fail() {
    // A link to a missing file, a missing heading, and the heading rules.
    let dir = tempfile::tempdir().expect("temp dir");
    let md = dir.path().join("a.md");
    std::fs::write(
        &md,
        "# A `title`, here\n\n## Two\n## Two\n[ok](a.md#a-title-here) [ok](#two-1) [bad](b.md) [bad](a.md#three)\n```\n[example](c.md)\n```\n",
    )
    .expect("write");
    let broken = broken_links(&md);
    assert_eq!(broken.len(), 2, "{broken:?}");
    assert!(broken[0].ends_with("b.md: no such file"), "{broken:?}");
    assert!(
        broken[1].ends_with("a.md#three: no such heading"),
        "{broken:?}"
    );
}
