//! Every numbered invariant in `specs/` is checked somewhere, and every test a spec
//! cites exists. An invariant is defined by a bullet `- **ID …**` (or, in
//! `specs/security.md`, by the first cell of its table row); it is *checked* when
//! its bullet or a table row whose first cell names it cites at least one function
//! of the repository (`a_test_name`, `module::a_test_name`) or a test case file
//! (a torture message of `tests/torture/`, a sipp scenario) in backticks. A cited
//! Rust path (`a::b::c`) whose last segment is a snake_case name must name a
//! function, module or file of the repository (a segment ending in `_` abbreviates
//! a family: some name must start with it). No network, no peers.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cpmd_tests::workspace_root;

/// What a citation may name: `checks` are functions declared in Rust sources and
/// the test case files (torture messages, sipp scenarios); `any` adds modules and
/// the stems of every file.
struct Names {
    checks: BTreeSet<String>,
    any: BTreeSet<String>,
}

impl Names {
    /// Whether `last` names something (`prefix_` names a family).
    fn resolves(&self, last: &str) -> bool {
        match last.strip_suffix('_') {
            Some(prefix) => self.any.iter().any(|n| n.starts_with(prefix)),
            None => self.any.contains(last),
        }
    }
}

fn is_ident(word: &str) -> bool {
    !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && word.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
}

/// The identifiers following `keyword ` in Rust source `text`.
fn declared<'a>(text: &'a str, keyword: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.split(keyword).skip(1).filter_map(|rest| {
        let name: &str = rest
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next()?;
        is_ident(name).then_some(name)
    })
}

fn names() -> Names {
    let files = cpmd_tests::repository_files();
    let root = workspace_root();
    let case_dirs = [root.join("tests/torture"), root.join("tests/sipp")];
    let mut checks = BTreeSet::new();
    let mut any = BTreeSet::new();
    for file in &files {
        if let Some(stem) = file.file_stem().and_then(|s| s.to_str()) {
            let stem = stem.split('.').next().unwrap_or(stem).to_owned();
            if case_dirs.iter().any(|d| file.starts_with(d)) {
                checks.insert(stem.clone());
            }
            any.insert(stem);
        }
        if file.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(file).expect("Rust source is UTF-8");
            checks.extend(declared(&text, "fn ").map(str::to_owned));
            any.extend(declared(&text, "mod ").map(str::to_owned));
        }
    }
    any.extend(checks.iter().cloned());
    Names { checks, any }
}

/// The words of the inline code spans of `text` (split on blanks and punctuation
/// that cannot be part of a path).
fn cited(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .flat_map(|span| {
            span.split(|c: char| c.is_whitespace() || ",;()[]{}<>=\"'".contains(c))
                .map(|w| w.trim_end_matches(['.', ':']).to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// The last segment of a path `a::b::c` (or the word itself).
fn last_segment(word: &str) -> &str {
    word.rsplit("::").next().unwrap_or(word)
}

/// Whether `text` cites a function or a test case file of the repository.
fn cites_a_check(text: &str, names: &Names) -> bool {
    cited(text)
        .iter()
        .any(|w| names.checks.contains(last_segment(w)))
}

/// An invariant ID at the start of `text` (`MSG-1`, `SEC-4a`, `TLS-7`).
fn id_at(text: &str) -> Option<&str> {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(text.len());
    let id = &text[..end];
    let (prefix, number) = id.split_once('-')?;
    let digits = number.trim_end_matches(|c: char| c.is_ascii_lowercase());
    let ok = !prefix.is_empty()
        && prefix.starts_with(|c: char| c.is_ascii_uppercase())
        && prefix
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && number.len() - digits.len() <= 1;
    ok.then_some(id)
}

/// Every ID named in a table's first cell (`| MSG-1, MSG-2 |`, `| ONE-1 … ONE-3 |`).
fn ids_in_cell(cell: &str) -> Vec<&str> {
    cell.split([',', '…', ' '])
        .filter_map(|w| id_at(w.trim()))
        .collect()
}

struct Spec {
    defined: Vec<String>,
    checked: BTreeSet<String>,
    dangling: Vec<String>,
}

fn read_spec(path: &Path, names: &Names) -> Spec {
    let text = std::fs::read_to_string(path).expect("spec is UTF-8");
    let table_defines = path.file_name().is_some_and(|n| n == "security.md");
    let lines: Vec<&str> = text.lines().collect();
    let mut spec = Spec {
        defined: Vec::new(),
        checked: BTreeSet::new(),
        dangling: Vec::new(),
    };
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if let Some(id) = trimmed.strip_prefix("- **").and_then(id_at) {
            // The bullet runs to the next bullet, heading or blank line.
            let body: Vec<&str> = std::iter::once(*line)
                .chain(
                    lines[i + 1..]
                        .iter()
                        .take_while(|l| {
                            let t = l.trim_start();
                            !t.is_empty() && !t.starts_with("- ") && !t.starts_with('#')
                        })
                        .copied(),
                )
                .collect();
            spec.defined.push(id.to_owned());
            if cites_a_check(&body.join("\n"), names) {
                spec.checked.insert(id.to_owned());
            }
        } else if let Some(row) = trimmed.strip_prefix('|') {
            let (first, rest) = row.split_once('|').unwrap_or((row, ""));
            let ids = ids_in_cell(first);
            if table_defines {
                spec.defined.extend(ids.iter().map(|s| (*s).to_owned()));
            }
            if cites_a_check(rest, names) {
                spec.checked.extend(ids.iter().map(|s| (*s).to_owned()));
            }
        }
    }
    for word in cited(&text) {
        let Some((head, last)) = word.rsplit_once("::") else {
            continue;
        };
        // Paths into std, and fields or methods of a type (`Type::name`), are not
        // citations of our tests.
        let type_member = last_segment(head).starts_with(|c: char| c.is_ascii_uppercase());
        if !is_ident(last) || word.starts_with("std::") || type_member {
            continue;
        }
        if !names.resolves(last) {
            spec.dangling.push(word);
        }
    }
    spec.defined.sort();
    spec.defined.dedup();
    spec
}

fn specs() -> Vec<PathBuf> {
    let dir = workspace_root().join("specs");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("specs/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    out.sort();
    out
}

#[test]
fn every_invariant_is_checked_and_every_cited_test_exists() {
    let names = names();
    let mut problems = Vec::new();
    let mut total = 0;
    for path in specs() {
        let spec = read_spec(&path, &names);
        total += spec.defined.len();
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        for id in spec.defined.iter().filter(|id| !spec.checked.contains(*id)) {
            problems.push(format!("{file}: {id} cites no test"));
        }
        for word in &spec.dangling {
            problems.push(format!("{file}: `{word}` names nothing in the repository"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The specs define well over a hundred invariants; a parser that finds none
    // would pass the loop above vacuously.
    assert!(
        total > 100,
        "only {total} invariants found: is the parser broken?"
    );
}

/// The checker itself: an uncited invariant and a dangling citation are reported.
#[test]
fn the_checker_finds_an_uncited_invariant_and_a_dangling_citation() {
    let names = names();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("example.md");
    std::fs::write(
        &path,
        "- **EX-1** Checked. (`every_invariant_is_checked_and_every_cited_test_exists`)\n\
         - **EX-2** Not checked by anything.\n\
         - **EX-3** Checked in the table.\n\
         \n\
         | EX-3 | `tests::nowhere::no_such_test_anywhere`, `ids_in_cell` |\n",
    )
    .expect("write");
    let spec = read_spec(&path, &names);
    assert_eq!(spec.defined, ["EX-1", "EX-2", "EX-3"]);
    assert_eq!(
        spec.checked.iter().map(String::as_str).collect::<Vec<_>>(),
        ["EX-1", "EX-3"]
    );
    assert_eq!(spec.dangling, ["tests::nowhere::no_such_test_anywhere"]);
}

/// The rows of specs/README.md's "Where every invariant is checked" table: (ID, the
/// spec file its second cell links to).
fn index_rows(readme: &str) -> Vec<(String, String)> {
    let Some(start) = readme.find("## Where every invariant is checked") else {
        return Vec::new();
    };
    let section = &readme[start..];
    let section = section[2..]
        .find("\n## ")
        .map_or(section, |end| &section[..end + 2]);
    section
        .lines()
        .filter_map(|line| {
            let mut cells = line.strip_prefix('|')?.split('|');
            let id = id_at(cells.next()?.trim())?.to_owned();
            let file = cells.next()?.trim();
            let file = file.split_once("](").map_or(file, |(_, rest)| rest);
            Some((id, file.trim_end_matches(')').to_owned()))
        })
        .collect()
}

/// specs/README.md's index lists every invariant of every spec once, under the spec
/// that defines it, and nothing else: a new invariant cannot be left out of it.
#[test]
fn the_index_in_specs_readme_lists_every_invariant_once() {
    let names = names();
    let mut defined = BTreeSet::new();
    for path in specs() {
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if file == "README.md" {
            continue;
        }
        for id in read_spec(&path, &names).defined {
            defined.insert((id, file.clone()));
        }
    }
    let readme =
        std::fs::read_to_string(workspace_root().join("specs/README.md")).expect("specs/README.md");
    let rows = index_rows(&readme);
    let listed: BTreeSet<(String, String)> = rows.iter().cloned().collect();
    assert_eq!(listed.len(), rows.len(), "an invariant is listed twice");
    let missing: Vec<_> = defined.difference(&listed).collect();
    let stray: Vec<_> = listed.difference(&defined).collect();
    assert!(
        missing.is_empty() && stray.is_empty(),
        "not in the index: {missing:?}\nin the index but defined nowhere (or under another spec): {stray:?}"
    );
    assert!(
        defined.len() > 100,
        "only {} invariants found",
        defined.len()
    );
}

/// The index reader finds rows and ignores other tables.
#[test]
fn the_index_reader_reads_rows_of_its_section_only() {
    let text = "| ZZ-9 | [x.md](x.md) | |\n## Where every invariant is checked\n\n\
                | invariant | spec |\n|---|---|\n| AB-1 | [a.md](a.md) | yes |\n\
                | AB-2a | [a.md](a.md) | |\n\n## Next\n| CD-1 | [c.md](c.md) |\n";
    assert_eq!(
        index_rows(text),
        [
            ("AB-1".to_owned(), "a.md".to_owned()),
            ("AB-2a".to_owned(), "a.md".to_owned())
        ]
    );
}
