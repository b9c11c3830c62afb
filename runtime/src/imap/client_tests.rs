//! Third-party IMAP clients against the server and the in-memory store: Python's
//! `imaplib` (through `tests/imap/imaplib_client.py`) and `curl imap://`.
//!
//! A missing python3 or curl fails these tests under `CI=true` and skips them
//! loudly otherwise. The same clients read a real `cpmd` in `tests/tests/imap.rs`.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde_json::Value;

use super::memory::MemoryStore;
use super::tests::{alice, message, seeded, start, CONV, GROUP, ONE};
use super::Settings;

/// Whether `tool` runs; under CI=true a missing tool fails the test.
fn available(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} not found; required under CI=true"
        );
        eprintln!("SKIPPED: {tool} not found");
    }
    ok
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/imap/imaplib_client.py")
}

/// Runs the imaplib client off the async thread (the server shares it).
async fn imaplib(args: Vec<String>) -> Value {
    tokio::task::spawn_blocking(move || {
        let out = Command::new("python3")
            .arg(script())
            .args(&args)
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "imaplib client failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON report")
    })
    .await
    .unwrap()
}

async fn curl(args: Vec<String>) -> String {
    tokio::task::spawn_blocking(move || {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", "-u", "alice:a-pass"])
            .args(&args)
            .output()
            .expect("curl runs");
        assert!(
            out.status.success(),
            "curl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn imaplib_reads_layout_objects_and_changes() {
    if !available("python3") {
        return;
    }
    let store = seeded();
    let addr = start(
        store.clone() as Arc<dyn crate::mailstore::MailStore>,
        Settings::default(),
    )
    .await;
    let base = |cmd: &str| {
        vec![
            cmd.to_owned(),
            addr.ip().to_string(),
            addr.port().to_string(),
            "alice".to_owned(),
            "a-pass".to_owned(),
        ]
    };
    let report = imaplib(base("dump")).await;
    assert!(report["capability"]
        .as_array()
        .unwrap()
        .contains(&Value::from("CONDSTORE")));
    let names: Vec<&str> = report["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    let one = format!("Default/{CONV}/{ONE}");
    let group = format!("Default/{CONV}/{GROUP}");
    assert_eq!(
        names,
        vec!["Default", &format!("Default/{CONV}"), &one, &group, "INBOX"]
    );
    let folder = &report["folders"][&one];
    assert_eq!(folder["status"]["MESSAGES"], 3);
    let objects = folder["objects"].as_array().unwrap();
    let uids: Vec<u64> = objects.iter().map(|o| o["uid"].as_u64().unwrap()).collect();
    assert_eq!(uids, vec![1, 2, 3], "UID order is delivery order");
    let header = objects[0]["header"].as_str().unwrap();
    assert!(header.contains("Content-Type: Application/X-CPM-Session\r\n"));
    assert!(header.contains(&format!("Contribution-ID: {ONE}\r\n")));
    assert!(objects[0]["raw"]
        .as_str()
        .unwrap()
        .contains("<sdp>m=message 2855 TCP/MSRP *"));
    assert!(objects[1]["header"]
        .as_str()
        .unwrap()
        .contains("IMDN-Message-ID: m1"));
    // Read with PEEK through EXAMINE: nothing became \Seen.
    assert_eq!(folder["status"]["UNSEEN"], 3);

    let mut args = base("changedsince");
    args.extend([one.clone(), "2".to_owned()]);
    let changed = imaplib(args).await;
    assert_eq!(changed["uids"], serde_json::json!([3]));

    // IDLE: the client is told of a message delivered while it waits.
    let mut args = base("idle");
    args.extend([one.clone(), "10".to_owned()]);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let idle = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("python3")
            .arg(script())
            .args(&args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "idling");
        let _ = ready_tx.send(());
        line.clear();
        out.read_line(&mut line).unwrap();
        assert!(child.wait().unwrap().success());
        serde_json::from_str::<Value>(&line).unwrap()
    });
    ready_rx.await.unwrap();
    store.add(&alice(), &one, &message(ONE, 3), 1_795_000_200);
    let pushed = idle.await.unwrap();
    assert_eq!(pushed["pushes"][0], "* 4 EXISTS", "{pushed}");
    assert!(pushed["done"].as_str().unwrap().contains("OK"));
}

#[tokio::test]
async fn imaplib_user_cannot_open_another_users_folder() {
    if !available("python3") {
        return;
    }
    let store: Arc<MemoryStore> = seeded();
    let addr = start(
        store as Arc<dyn crate::mailstore::MailStore>,
        Settings::default(),
    )
    .await;
    let args = vec![
        "denied".to_owned(),
        addr.ip().to_string(),
        addr.port().to_string(),
        "carol@example.com".to_owned(),
        "c-pass".to_owned(),
        format!("Default/{CONV}/{ONE}"),
    ];
    let r = imaplib(args).await;
    assert_eq!(r["select"], "NO", "{r}");
    assert_eq!(r["status"], "NO", "{r}");
}

#[tokio::test]
async fn curl_lists_searches_and_fetches() {
    if !available("curl") {
        return;
    }
    let addr = start(
        seeded() as Arc<dyn crate::mailstore::MailStore>,
        Settings::default(),
    )
    .await;
    let url = format!("imap://{addr}");
    let list = curl(vec![format!("{url}/")]).await;
    assert!(
        list.contains(&format!("\"/\" Default/{CONV}/{ONE}")),
        "{list}"
    );
    assert!(list.contains("(\\HasChildren) \"/\" Default\r\n"), "{list}");
    let folder = format!("Default/{CONV}/{ONE}");
    let search = curl(vec![
        format!("{url}/{folder}"),
        "-X".into(),
        format!("UID SEARCH HEADER Contribution-ID {ONE}"),
    ])
    .await;
    assert_eq!(search.trim_end(), "* SEARCH 1 2 3");
    // curl's URL form: SELECT the mailbox, then UID FETCH 1 BODY[].
    let body = curl(vec![format!("{url}/{folder}/;UID=1")]).await;
    assert!(
        body.starts_with("From: <sip:alice@example.com>\r\n"),
        "{body}"
    );
    assert!(body.contains("Content-Type: Application/X-CPM-Session\r\n\r\n<session>"));
    let section = curl(vec![format!(
        "{url}/{folder}/;UID=2/;SECTION=HEADER.FIELDS%20(IMDN-Message-ID)"
    )])
    .await;
    assert_eq!(section, "IMDN-Message-ID: m1\r\n\r\n");
    let status = curl(vec![
        format!("{url}/"),
        "-X".into(),
        format!("STATUS {folder} (MESSAGES UIDVALIDITY UNSEEN)"),
    ])
    .await;
    assert!(status.contains("MESSAGES 3 UIDVALIDITY "), "{status}");
    // UIDs 1 and 2 were fetched without PEEK (curl's URL form): they are \Seen now.
    assert!(status.contains("UNSEEN 1)"), "{status}");
}
