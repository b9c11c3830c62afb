//! Replays the committed corpus of every fuzz target (`corpus/TARGET/`) and every
//! crash found so far (`regressions/TARGET/`, each a regression test), and checks
//! that the `server` seed scripts still reach the deep states they were written for.
//! Fast: no AFL, one pass over each file. Each replay checks LIM-9 and LIM-10
//! (specs/limits.md) on that input.

use std::path::{Path, PathBuf};

use cpmd_core::server::{Command, Event};
use cpmd_fuzz::script::{self, Output};
use cpmd_fuzz::Target;

fn files(dir: &str, target: Target) -> Vec<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(dir)
        .join(target.name());
    let Ok(entries) = std::fs::read_dir(&path) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    files.sort();
    files
}

fn replay(dir: &str, target: Target) -> usize {
    let files = files(dir, target);
    for file in &files {
        let data = std::fs::read(file).expect("corpus file");
        let outcome = std::panic::catch_unwind(|| target.run(&data));
        assert!(
            outcome.is_ok(),
            "{} fails: {}",
            target.name(),
            file.display()
        );
    }
    files.len()
}

#[test]
fn every_target_has_a_corpus_and_replays_it() {
    for target in Target::ALL {
        let n = replay("corpus", target);
        assert!(n >= 3, "corpus/{} has {n} files", target.name());
    }
}

#[test]
fn every_crash_found_so_far_stays_fixed() {
    for target in Target::ALL {
        replay("regressions", target);
    }
}

/// Whether a script's run put out something `pick` recognises.
fn reaches(data: &[u8], pick: impl Fn(&Output) -> bool) -> bool {
    script::execute(data).log.iter().any(pick)
}

#[test]
fn server_seeds_reach_the_states_they_were_written_for() {
    let seeds = cpmd_fuzz::seeds::all();
    let seed = |name: &str| {
        seeds
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no seed {name}"))
            .bytes
            .clone()
    };
    let established = |o: &Output| matches!(o, Output::Event(Event::SessionEstablished(_)));
    let sealed = |o: &Output| matches!(o, Output::Event(Event::SessionSealed(_)));
    let persisted = |o: &Output| matches!(o, Output::Command(Command::Persist { .. }));
    let msrp_sent = |o: &Output| matches!(o, Output::Command(Command::MsrpSend { .. }));
    let group = |o: &Output| matches!(o, Output::Event(Event::GroupCreated { .. }));
    for name in ["02-session-bye-udp", "03-session-bye-tcp"] {
        assert!(reaches(&seed(name), established), "{name}");
        assert!(reaches(&seed(name), sealed), "{name}");
    }
    assert!(reaches(&seed("04-session-msrp"), persisted));
    assert!(reaches(&seed("04-session-msrp"), msrp_sent));
    assert!(reaches(&seed("06-pager"), persisted));
    assert!(reaches(&seed("07-extension"), group));
    for s in &seeds {
        Target::Server.run(&s.bytes);
    }
}

#[test]
fn scripts_parse_as_documented() {
    let records =
        script::parse(b"INVITE\r\n%% tick 5\n%% close msrp-out 2\n%%x\n%% tcp 3\nA\n%% B\n");
    let ops: Vec<_> = records.iter().map(|r| (r.op, r.body)).collect();
    use script::{Conn, Op};
    assert_eq!(
        ops,
        [
            (Op::Udp(1), &b"INVITE\r\n"[..]),
            (Op::Tick(5), &b""[..]),
            (Op::Close(Conn::MsrpOut(2)), &b"%%x\n"[..]),
            (Op::Bytes(Conn::Tcp(3)), &b"A\n"[..]),
            (Op::Skip, &b""[..]),
        ]
    );
}
