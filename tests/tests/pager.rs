//! Pager mode over real sockets (specs/one-to-one.md, PAGER-1..4), driven by a
//! minimal raw UDP SIP client (no sipp needed): A's MESSAGE with a CPIM body reaches
//! B, B's 200 reaches A, and the message store holds the standalone message with the
//! authenticated sender and the NS-resolved IMDN Message-ID; B's IMDN by pager is
//! recorded as a disposition; a broken CPIM body gets 400 and is not recorded. A
//! MESSAGE to a user registered from two devices reaches both (PAGER-6).

use cpmd_tests::udp_ua::{header, Ua};
use cpmd_tests::{Cpmd, Transport};

fn body(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

const CPIM: &str = "From: <sip:anonymous@anonymous.invalid>\r\n\
    To: <sip:anonymous@anonymous.invalid>\r\n\
    NS: rcs <urn:ietf:params:imdn>\r\n\
    rcs.Message-ID: pm-e2e-1\r\n\
    DateTime: 2024-05-06T07:08:09Z\r\n\r\n\
    Content-Type: text/plain;charset=UTF-8\r\n\r\nhello by pager";

const IMDN: &str = "From: <sip:anonymous@anonymous.invalid>\r\n\
    To: <sip:anonymous@anonymous.invalid>\r\n\
    NS: imdn <urn:ietf:params:imdn>\r\n\
    imdn.Message-ID: imdn-e2e-1\r\n\r\n\
    Content-Type: message/imdn+xml\r\nContent-Disposition: notification\r\n\r\n\
    <?xml version=\"1.0\" encoding=\"UTF-8\"?>\
    <imdn xmlns=\"urn:ietf:params:xml:ns:imdn\"><message-id>pm-e2e-1</message-id>\
    <delivery-notification><status><delivered/></status></delivery-notification></imdn>";

#[test]
fn pager_message_and_imdn_are_recorded_and_relayed() {
    let mut cpmd = Cpmd::start(&["--udp", "127.0.0.1:0"]);
    let server = cpmd.addr(Transport::Udp);
    let (a, b) = (Ua::new("alice", server), Ua::new("bob", server));
    a.register();
    b.register();
    let cpm = "Conversation-ID: conv-pager\r\nContent-Type: message/cpim\r\n";
    a.send(&a.request("MESSAGE", "bob", "pm-call-1", cpm, CPIM));
    let at_b = b.expect("MESSAGE ");
    assert_eq!(body(&at_b), CPIM);
    assert_eq!(header(&at_b, "Conversation-ID"), "conv-pager");
    b.answer(&at_b, "200 OK");
    a.expect("SIP/2.0 200");

    let imdn_hdrs = "Conversation-ID: conv-pager\r\nContent-Type: message/cpim\r\n";
    b.send(&b.request("MESSAGE", "alice", "pm-imdn-1", imdn_hdrs, IMDN));
    let at_a = a.expect("MESSAGE ");
    assert_eq!(body(&at_a), IMDN);
    a.answer(&at_a, "200 OK");
    b.expect("SIP/2.0 200");

    let broken = "From: <sip:a@example.com>\r\n\r\nContent-Type: text/plain\r\nno empty line";
    a.send(&a.request("MESSAGE", "bob", "pm-call-2", cpm, broken));
    a.expect("SIP/2.0 400");

    cpmd.stop();
    let history = cpmd.history();
    let standalone: Vec<_> = history
        .iter()
        .filter(|l| l["kind"] == "standalone")
        .collect();
    assert_eq!(standalone.len(), 1, "{history:?}");
    let m = standalone[0];
    assert_eq!(m["conversation_id"], "conv-pager");
    assert_eq!(m["sender"], "sip:alice@example.com");
    assert_eq!(m["recipients"], serde_json::json!(["sip:bob@example.com"]));
    assert_eq!(m["message_id"], "pm-e2e-1");
    assert_eq!(m["content_type"], "message/cpim");
    assert_eq!(m["body"], CPIM);
    let dispositions: Vec<_> = history
        .iter()
        .filter(|l| l["kind"] == "disposition")
        .collect();
    assert_eq!(dispositions.len(), 1, "{history:?}");
    let d = dispositions[0];
    assert_eq!(d["conversation_id"], "conv-pager");
    assert_eq!(d["message_id"], "pm-e2e-1");
    assert_eq!(d["recipient"], "sip:bob@example.com");
    assert_eq!(d["disposition"], "Delivered");
}

/// PAGER-6 (issue 17's multi-device bullet, for pager mode): bob is registered from
/// two devices; alice's MESSAGE reaches both, the first 200 is relayed to her, and
/// the message is stored once.
#[test]
fn a_pager_message_reaches_every_device_of_the_recipient() {
    let mut cpmd = Cpmd::start(&["--udp", "127.0.0.1:0"]);
    let server = cpmd.addr(Transport::Udp);
    let (a, phone, laptop) = (
        Ua::new("alice", server),
        Ua::new("bob", server),
        Ua::new("bob", server),
    );
    a.register();
    phone.register();
    // The second device registers in a REGISTER dialog of its own.
    laptop.send(&laptop.request("REGISTER", "bob", "reg-bob-laptop", "Expires: 300\r\n", ""));
    laptop.expect("SIP/2.0 200");
    let cpm = "Conversation-ID: conv-devices\r\nContent-Type: message/cpim\r\n";
    a.send(&a.request("MESSAGE", "bob", "pm-devices-1", cpm, CPIM));
    let at_laptop = laptop.expect("MESSAGE ");
    let at_phone = phone.expect("MESSAGE ");
    assert_eq!(body(&at_laptop), CPIM);
    assert_eq!(body(&at_phone), CPIM);
    laptop.answer(&at_laptop, "200 OK");
    a.expect("SIP/2.0 200");
    phone.answer(&at_phone, "200 OK");
    cpmd.stop();
    let history = cpmd.history();
    let standalone = history.iter().filter(|l| l["kind"] == "standalone").count();
    assert_eq!(standalone, 1, "stored once: {history:?}");
}
