//! `cpmd-fuzz`: the coverage-guided fuzz targets of `cpmd-core`, one per decoder and
//! one for the whole [`cpmd_core::server::Server`].
//!
//! Each [`Target`] is a function from arbitrary bytes to nothing that panics when a
//! rule is broken: a decoder that panics, a decoded value that does not print back to
//! itself, a stream decoder whose output depends on how the bytes were cut into
//! reads, a server whose output it cannot itself read back, or a server that is not
//! deterministic. The same functions run in three places:
//!
//! * under AFL++ (`cargo afl build --features afl`, the binary `cpmd-fuzz TARGET`,
//!   driven by `scripts/fuzz`), which searches for inputs that reach new code;
//! * in `cargo test` (`tests/replay.rs`), which replays the committed corpus
//!   `corpus/TARGET/` and every crash ever found, `regressions/TARGET/`;
//! * by hand: `cargo run -p cpmd-fuzz -- TARGET FILE...` replays files (and
//!   `--show` prints what the server did with a script).
//!
//! What this is not: the per-case conformance assertions (`core/tests/corpus_*.rs`)
//! or the proptest properties (`core/tests/*_props.rs`), which check values; the
//! targets check rules that hold for every input.

pub mod decoders;
pub mod script;
pub mod seeds;

/// A fuzz target: its name is its directory under `corpus/` and `regressions/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// One SIP message: `decode_message`, `decode_datagram`, the reply context.
    SipMessage,
    /// A SIP byte stream over TCP: framing by Content-Length, cut into reads.
    SipStream,
    /// SIP, SIPS and tel URIs, and the `Replaces` value.
    Uri,
    /// An SDP body.
    Sdp,
    /// A `multipart/mixed` body after its Content-Type line, and the INVITE body rules.
    Multipart,
    /// An RFC 4826 resource list.
    ResourceLists,
    /// An MSRP connection's byte stream, cut into reads.
    MsrpStream,
    /// A `message/cpim` body.
    Cpim,
    /// An IMDN (`message/imdn+xml`) document.
    Imdn,
    /// A `Digest` credentials value (`Authorization`).
    Digest,
    /// The whole server fed a script of inputs on several flows, with time steps.
    Server,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 11] = [
        Target::SipMessage,
        Target::SipStream,
        Target::Uri,
        Target::Sdp,
        Target::Multipart,
        Target::ResourceLists,
        Target::MsrpStream,
        Target::Cpim,
        Target::Imdn,
        Target::Digest,
        Target::Server,
    ];

    /// The target's name (its corpus directory, the argument of `cpmd-fuzz`).
    pub fn name(self) -> &'static str {
        match self {
            Target::SipMessage => "sip-message",
            Target::SipStream => "sip-stream",
            Target::Uri => "uri",
            Target::Sdp => "sdp",
            Target::Multipart => "multipart",
            Target::ResourceLists => "resource-lists",
            Target::MsrpStream => "msrp-stream",
            Target::Cpim => "cpim",
            Target::Imdn => "imdn",
            Target::Digest => "digest",
            Target::Server => "server",
        }
    }

    /// The target named `name`.
    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Runs the target on one input; panics if a rule is broken.
    pub fn run(self, data: &[u8]) {
        match self {
            Target::SipMessage => decoders::sip_message(data),
            Target::SipStream => decoders::sip_stream(data),
            Target::Uri => decoders::uri(data),
            Target::Sdp => decoders::sdp(data),
            Target::Multipart => decoders::multipart(data),
            Target::ResourceLists => decoders::resource_lists(data),
            Target::MsrpStream => decoders::msrp_stream(data),
            Target::Cpim => decoders::cpim(data),
            Target::Imdn => decoders::imdn(data),
            Target::Digest => decoders::digest(data),
            Target::Server => script::run_checked(data),
        }
    }
}
