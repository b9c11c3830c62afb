//! The claim benchmark's load generator against a real cpmd, untimed, so that it
//! cannot rot: `claim_bench` (tests/src/bin/claim_bench, the generator of
//! `bench/claim.sh`) runs a handful of whole-claim flows, two at a time, and every
//! flow must pass (every SIP final answer 200, every MSRP message and 200 arrived).
//! Then the store must hold what the flows were acknowledged for: per flow the
//! sealed 1-to-1 with its 20 messages and the sealed group with its 10, the group's
//! session info naming B and C (EXT-4), each message's sender the user of its leg.
//! Every one of those was acknowledged only once durable (MSG-1; the last group BYE
//! only once sealed, HIST-5), so the store is read after the generator exits.

use std::process::Command;

use cpmd_tests::Cpmd;
use serde_json::Value;

const FLOWS: usize = 4;

#[test]
fn claim_bench_flows_all_pass_and_everything_is_stored() {
    let mut cpmd = Cpmd::start(&["--tcp", "127.0.0.1:0", "--msrp", "127.0.0.1:0"]);
    let sip = cpmd
        .bound
        .iter()
        .find(|(t, _)| t == "tcp")
        .expect("tcp= in the ready line")
        .1;
    let out = Command::new(env!("CARGO_BIN_EXE_claim_bench"))
        .args(["--sip", &sip.to_string()])
        .args(["--flows", &FLOWS.to_string(), "--concurrency", "2"])
        .args(["--tag", "smoke", "--timeout", "20"])
        .output()
        .expect("run claim_bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "claim_bench failed: {stdout}\n{stderr}\n{}",
        cpmd.log()
    );
    let result: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(result["ok"], FLOWS, "{result}");
    assert_eq!(result["failed"], 0, "{result}");
    assert_eq!(result["messages"], 30 * FLOWS, "{result}");
    assert!(cpmd.stop().success(), "{}", cpmd.log());

    let lines = cpmd.history();
    for n in 0..FLOWS {
        check_flow(&cpmd, &lines, n);
    }
    let sealed = lines.iter().filter(|l| l["kind"] == "history").count();
    assert_eq!(sealed, 2 * FLOWS, "{lines:#?}");
}

/// Flow `n`: its two sessions sealed once each, with every message in the final set.
fn check_flow(cpmd: &Cpmd, lines: &[Value], n: usize) {
    let (one, group) = (format!("one-smoke-{n}"), format!("group-smoke-{n}"));
    for (contribution, kind, count) in [(&one, "1-1", 20), (&group, "Ad-Hoc", 10)] {
        let sealed = cpmd.sealed(contribution);
        assert_eq!(sealed.len(), 1, "{contribution} sealed once: {lines:#?}");
        assert_eq!(sealed[0]["info"]["session_type"], kind);
        assert_eq!(sealed[0]["conversation_id"], format!("conv-smoke-{n}"));
        let recorded = cpmd.recorded_messages(contribution);
        assert_eq!(recorded.len(), count, "{contribution}: {recorded:#?}");
        let seqs: Vec<u64> = recorded.iter().map(|m| m.seq).collect();
        assert_eq!(
            sealed[0]["messages"],
            serde_json::json!(seqs),
            "{contribution}"
        );
        for m in &recorded {
            // Message ids say who sent them: <flow>-a3, <flow>-b7, <flow>-g4 (A, B, C in turn).
            let role = m.message_id.rsplit('-').next().unwrap_or_default();
            let who = match role.as_bytes().first() {
                Some(b'a') => "a",
                Some(b'b') => "b",
                Some(b'g') => ["a", "b", "c"][role[1..].parse::<usize>().expect("index") % 3],
                _ => panic!("unexpected message id {}", m.message_id),
            };
            assert!(
                m.sender.starts_with(&format!("sip:smoke{who}")),
                "{}: sender {}",
                m.message_id,
                m.sender
            );
            assert!(m.body.contains(&m.message_id), "{m:?}");
        }
    }
    let info = lines
        .iter()
        .find(|l| l["kind"] == "session_info" && l["contribution_id"] == group.as_str())
        .unwrap_or_else(|| panic!("no session info of {group}"));
    let invited: Vec<&str> = info["invited"]
        .as_array()
        .expect("invited")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(invited.len(), 2, "{info}");
    assert!(invited[0].starts_with("sip:smokeb"), "{info}");
    assert!(invited[1].starts_with("sip:smokec"), "{info}");
    assert_eq!(info["to"], "sip:conf-factory@example.com");
}
