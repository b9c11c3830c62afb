//! Running the Python group terminals (`tests/sip/*.py`) against a cpmd and checking
//! the conference documents they recorded against RFC 4575's schema with
//! `xmllint --nonet` (`tests/schemas/conference-info.xsd`; its `xml.xsd` import is
//! resolved offline by `tests/schemas/catalog.xml`).
//!
//! What it is not: the scenarios themselves (the Python scripts) nor the assertions on
//! the store (the tests).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{tool_available, workspace_root, Cpmd, Transport};

/// `xmllint --nonet --schema` on one document: `Ok` or the tool's complaint.
pub fn validate(doc: &Path) -> Result<(), String> {
    let schemas = workspace_root().join("tests/schemas");
    let out = Command::new("xmllint")
        .env("XML_CATALOG_FILES", schemas.join("catalog.xml"))
        .args(["--nonet", "--noout", "--schema"])
        .arg(schemas.join("conference-info.xsd"))
        .arg(doc)
        .output()
        .expect("xmllint runs");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Whether python3 and xmllint run (a missing one fails under CI=true).
pub fn tools() -> bool {
    tool_available("python3", &["--version"], "python3")
        && tool_available("xmllint", &["--version"], "libxml2-utils")
}

/// What a scenario run left: its stdout and the conference documents, in order.
pub struct ScenarioRun {
    pub stdout: String,
    pub docs: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

/// Runs `tests/sip/<script> <scenario>` against `cpmd`'s TCP listener; asserts that
/// it completed and that every conference document it recorded validates.
pub fn run_python_scenario(cpmd: &Cpmd, script: &str, scenario: &str) -> ScenarioRun {
    let server = cpmd.addr(Transport::Tcp);
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .arg(workspace_root().join("tests/sip").join(script))
        .arg(scenario)
        .args(["--host", &server.ip().to_string()])
        .args(["--port", &server.port().to_string()])
        .arg("--out")
        .arg(dir.path())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} {scenario} failed\nstdout:\n{stdout}\nstderr:\n{}\ncpmd:\n{}",
        String::from_utf8_lossy(&out.stderr),
        cpmd.log()
    );
    let mut docs: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    docs.sort();
    for doc in &docs {
        if let Err(err) = validate(doc) {
            panic!(
                "{} does not validate against RFC 4575:\n{err}\n{}",
                doc.display(),
                std::fs::read_to_string(doc).unwrap_or_default()
            );
        }
    }
    ScenarioRun {
        stdout,
        docs,
        _dir: dir,
    }
}
