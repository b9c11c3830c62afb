//! Server configuration as the core sees it: plain values, no file formats.

use crate::uri::UserUri;
use crate::wire::Limits;

/// Per-boot, per-instance seed from which every ID and token the server mints is
/// derived (through the keyed PRF of `server/token.rs`). The runtime draws `key` from
/// OS entropy at start-up and takes `instance` from its configuration. Tokens are
/// unpredictable to whoever lacks the key and reproducible by whoever has it (the
/// model, tests, a replay of a recorded trace), so the key is a secret: its `Debug`
/// does not print it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Seed {
    /// Instance number (configuration).
    pub instance: u64,
    /// The 256-bit token key, random per boot (runtime entropy).
    pub key: [u8; 32],
}

impl Seed {
    /// The key in 64 lowercase hex digits (the input trace's `start` line).
    pub fn key_hex(&self) -> String {
        self.key.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses 64 hex digits back into a key; `None` for anything else.
    pub fn key_from_hex(text: &str) -> Option<[u8; 32]> {
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut key = [0u8; 32];
        for (i, b) in key.iter_mut().enumerate() {
            *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(key)
    }
}

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seed")
            .field("instance", &self.instance)
            .field("key", &"<secret>")
            .finish()
    }
}

/// RFC 3261 timer base values and the CPM handshake timers, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timers {
    /// T1, RTT estimate (500 ms).
    pub t1_ms: u64,
    /// T2, maximum retransmit interval for non-INVITE requests and INVITE responses (4 s).
    pub t2_ms: u64,
    /// T4, maximum time a message remains in the network (5 s).
    pub t4_ms: u64,
    /// Timer C (RFC 3261 §16.6): how long an INVITE the server sent may ring before
    /// the server CANCELs it (180 s).
    pub timer_c_ms: u64,
    /// How long the server waits for A's answer to a relayed BYE (TERM-2; 8 s).
    pub bye_wait_ms: u64,
    /// How long after B joined the group the server waits for B's BYE on the replaced
    /// 1-to-1 (TERM-3; 32 s).
    pub replaced_bye_timeout_ms: u64,
    /// Registration expiry when the REGISTER names none, and the upper bound.
    pub default_expires_s: u32,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            t1_ms: 500,
            t2_ms: 4_000,
            t4_ms: 5_000,
            timer_c_ms: 180_000,
            bye_wait_ms: 8_000,
            replaced_bye_timeout_ms: 32_000,
            default_expires_s: 3_600,
        }
    }
}

impl Timers {
    /// 64·T1: transaction timeouts (Timers B, F, H, J, L, M).
    pub fn t64_ms(&self) -> u64 {
        self.t1_ms.saturating_mul(64)
    }
}

/// A deliberately broken variant of the core, selected at run time, used only by the
/// model checker's mutation tests to show that each property can fail. `None` in
/// every real configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mutation {
    /// The real server.
    #[default]
    None,
    /// Acknowledge a chat message before the store confirmed it (breaks MSG-1).
    AckBeforeStore,
    /// Seal the 1-to-1 as soon as B's BYE arrives, before A answered (breaks HIST-2/TERM-1).
    SealOnByeArrival,
    /// Let anyone who knows the Contribution-ID replace a session (breaks EXT-2).
    ReplaceWithoutAuth,
    /// Reuse the 1-to-1's Contribution-ID for the group (breaks EXT-3).
    ReuseContributionId,
    /// Deliver each message as soon as its own `Persist` is confirmed, not in sequence
    /// order (breaks MSG-2).
    DeliverOnStore,
    /// Record a message in the session's history when the store confirms it, not when
    /// it is delivered (breaks HIST-3).
    HistoryInStoreOrder,
    /// Answer the BYE sender as soon as the seal is emitted, before it is durable
    /// (breaks HIST-5).
    OkBeforeDurableSeal,
    /// Do nothing when `bye_wait` expires (breaks HIST-1: the session is never sealed).
    IgnoreByeWait,
    /// Give no answer for a message whose recipient's leg closed (breaks EXT-8/MSG-4).
    SilentDropOnClosedLeg,
    /// Treat every retransmitted request as a new transaction (breaks ONE-7).
    NoRetransmissionAbsorb,
    /// Leave the second BYE of a glare unanswered (a bad end state).
    UnansweredGlareBye,
    /// Deliver a group message to its sender too (breaks GRP-2).
    GroupEchoToSender,
    /// Store a 1-to-1 message under the group that replaced it (breaks GRP-3).
    OneToOneIntoGroup,
    /// Seal the group when its first participant leaves (breaks GRP-4).
    SealGroupOnFirstLeave,
    /// A participant's BYE removes every participant (breaks GRP-5).
    GroupByeRemovesAll,
    /// Answer every MSRP SEND whatever its `Failure-Report` asks (breaks MSRP-4).
    MsrpIgnoreFailureReport,
    /// Answer a response to one of the server's own MSRP SENDs (breaks MSRP-6).
    MsrpAnswerResponses,
    /// Relay a message under its sender's Message-ID (breaks MSRP-7).
    MsrpRelaySenderMessageId,
    /// Take an aborted chunk (`#`) as the message's last one (breaks MSRP-8).
    MsrpAbortCompletes,
    /// Give no MSRP answer for a message that failed (breaks MSRP-10).
    MsrpSilentFailure,
    /// Take a group REFER from someone who is not a joined participant (breaks GRP-14).
    ReferFromAnyone,
    /// Let any participant remove another by REFER (breaks GRP-15).
    AnyoneRemoves,
    /// Let a removed participant rejoin at the focus URI (breaks GRP-21).
    RemovedRejoins,
    /// Take a rejoin into a group whose seal is under way (breaks GRP-22).
    RejoinWhileSealing,
    /// Let a second device's 2xx to a group INVITE join the user again (breaks GRP-31).
    SecondDeviceJoins,
    /// Store a new subject without announcing it to the subscribers (breaks GRP-33).
    SubjectNotAnnounced,
    /// Put the relayed offer's `a=path` into the server's offer on the other leg, a
    /// pass-through B2BUA (breaks MSRP-1).
    MsrpPathPassThrough,
    /// Answer a terminal's REPORT with 200 (breaks MSRP-5).
    MsrpAnswerReports,
    /// Store the group's session info without the SDP media attributes (breaks EXT-4).
    GroupInfoWithoutMedia,
    /// Create the group and answer A 200 although the store failed its info (breaks
    /// EXT-5).
    GroupOnFailedInfo,
    /// Name the conference-factory URI, not the focus URI, as the group state
    /// object's `lastfocussessionid` (breaks GRP-8).
    FocusNamedFactory,
    /// Send the focus's INVITEs to the participants with a plain Contact: no
    /// `isfocus`, no CPM feature tags (breaks GRP-9).
    FocusContactPlain,
    /// Never send the ACK of a callee's 2xx (breaks ONE-3).
    NoAckOfAnswer,
    /// Leave the callee's 2xx that crossed A's CANCEL ACKed but not ended (breaks
    /// ONE-4).
    CrossedAnswerNotEnded,
    /// Answer A's CANCEL but never its INVITE (breaks ONE-9).
    CancelWithout487,
    /// Record every failed invitation as declined, a 408/480/487 too (breaks GRP-7).
    AllFailuresDeclined,
    /// End the group for everyone when an invitee declines or does not answer
    /// (breaks GRP-1).
    DeclineEndsGroup,
    /// Take a BYE on the replaced 1-to-1 as its sender's leaving of the group that
    /// replaced it (breaks GRP-6).
    ReplacedByeLeavesGroup,
    /// Take on a SEND whose From-Path is not the leg's (breaks MSRP-3).
    MsrpFromPathUnchecked,
    /// Answer an offer with the MSRP m-line only, dropping the others (breaks
    /// MSRP-11).
    AnswerOnlyMsrpLine,
    /// Answer A's INVITE 200 as soon as it is forked to B, before B answered
    /// (breaks ONE-3's first half).
    CallerOkBeforeAnswer,
    /// Wait 64·T1, not `bye_wait`, for the answer to a relayed BYE: the BYE's
    /// sender times out first (breaks TERM-2).
    ByeWaitAtTransactionTimeout,
    /// Take a conference SUBSCRIBE from anyone, not only a joined participant
    /// (breaks GRP-10).
    SubscribeFromAnyone,
    /// Answer a subscription's refresh without the full state (breaks GRP-11).
    RefreshWithoutState,
    /// Terminate the subscriptions of an ended group after its seal was asked for,
    /// not before (breaks GRP-13).
    SubscriptionsEndAfterSeal,
    /// Keep a leg bound to its MSRP connection after the connection closed: what
    /// is relayed to it is written on the dead connection (breaks MSRP-9).
    ClosedConnStaysBound,
    /// Queue messages for an unbound MSRP leg without the `max_queued` bound
    /// (breaks MSRP-9's bound: a full queue fails the message).
    UnboundedMsrpQueue,
}

/// A digest algorithm the server offers (RFC 8760).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DigestAlgorithm {
    /// `SHA-256` (RFC 8760), offered first.
    Sha256,
    /// `MD5`, for old clients.
    Md5,
}

impl DigestAlgorithm {
    /// The `algorithm=` token.
    pub fn token(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "SHA-256",
            DigestAlgorithm::Md5 => "MD5",
        }
    }

    /// Parses an `algorithm=` token (case-insensitive); `-sess` variants are not offered.
    pub fn from_token(token: &str) -> Option<Self> {
        if token.eq_ignore_ascii_case("SHA-256") {
            Some(DigestAlgorithm::Sha256)
        } else if token.eq_ignore_ascii_case("MD5") {
            Some(DigestAlgorithm::Md5)
        } else {
            None
        }
    }
}

/// Digest authentication of local users.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthConfig {
    /// The realm (usually the domain).
    pub realm: String,
    /// Password per user name.
    pub passwords: std::collections::BTreeMap<String, String>,
    /// Algorithms offered, in order of preference.
    pub algorithms: Vec<DigestAlgorithm>,
    /// How long a nonce is accepted.
    pub nonce_ttl_ms: u64,
}

impl AuthConfig {
    /// Authentication in `realm` for these users, SHA-256 then MD5, 5-minute nonces.
    pub fn new(realm: &str, passwords: std::collections::BTreeMap<String, String>) -> Self {
        Self {
            realm: realm.to_owned(),
            passwords,
            algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
            nonce_ttl_ms: 300_000,
        }
    }
}

/// The server's MSRP endpoint: what it advertises in the SDP it generates, and how
/// it checks and chunks MSRP (specs/msrp.md).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MsrpConfig {
    /// The address of the MSRP listener put in `c=`, `m=` and `a=path` of every SDP
    /// the server generates (the runtime's first `--msrp` listener, port resolved).
    pub advertised: std::net::SocketAddr,
    /// The MSRP-over-TLS listener (`msrps:` URIs, `TCP/TLS/MSRP`; the runtime's
    /// first `[listen] msrps`); `None`: offers of `TCP/TLS/MSRP` are refused (488).
    pub advertised_tls: Option<std::net::SocketAddr>,
    /// RFC 6714 relaxed matching: a `From-Path` is checked by the session-id of its
    /// last URI only (the terminal's own), not URI by URI (RFC 4975 §7.3).
    pub relaxed_path_matching: bool,
    /// Bytes per outgoing chunk: larger messages are split with `Byte-Range`
    /// (default 8192: a chat message of a few KiB is one SEND; specs/msrp.md,
    /// "Chunk size").
    pub chunk_size: usize,
    /// Most encoded requests queued for one leg while its connection is not bound
    /// yet; beyond it a message to that leg fails (MSRP-9).
    pub max_queued: usize,
}

impl Default for MsrpConfig {
    fn default() -> Self {
        Self {
            advertised: std::net::SocketAddr::from(([127, 0, 0, 1], 2855)),
            advertised_tls: None,
            relaxed_path_matching: false,
            chunk_size: 8192,
            max_queued: 256,
        }
    }
}

/// Everything the core needs to know about its deployment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Config {
    /// The SIP domain the server is responsible for (`example.com`).
    pub domain: String,
    /// The user part of the conference-factory URI (`conf-factory`).
    pub conference_factory_user: String,
    /// Host (and optional port) the server puts in its Via sent-by and Contact.
    pub advertised_host: String,
    /// Port for Via/Contact.
    pub advertised_port: u16,
    /// Port for Via/Contact on flows over TLS (the first SIP TLS listener); `None`
    /// when the server has none (then `advertised_port`).
    pub advertised_tls_port: Option<u16>,
    /// The server's MSRP endpoint (back-to-back MSRP, specs/msrp.md).
    pub msrp: MsrpConfig,
    /// When set, only these users may register (others get 403). Empty: anyone in
    /// `domain`.
    pub users: Vec<UserUri>,
    /// Digest authentication; `None` turns it off (identity by registration flow).
    pub auth: Option<AuthConfig>,
    /// Timers.
    pub timers: Timers,
    /// Input limits.
    pub limits: Limits,
    /// Caps on registrations (SEC-5).
    pub registration: RegistrationCaps,
    /// Repeated password failures, SIP and IMAP (SEC-4f).
    pub login_failures: super::failures::FailurePolicy,
    /// Trusted proxies and connection targets (SEC-6).
    pub trust: super::connect_policy::TrustConfig,
    /// Caps on the core's tables (specs/limits.md, LIM-11..LIM-13).
    pub caps: super::caps_config::CoreCaps,
    /// Deferred messaging (specs/deferred.md).
    pub deferred: super::deferred_config::DeferredConfig,
    /// ID seed.
    pub seed: Seed,
    /// Whether chat message bodies go to the store (`store_messages`, default on).
    /// Off: a message's `Persist` record carries its metadata and an empty body;
    /// the body is still relayed, and the 200 still waits for the record's commit
    /// (MSG-1; BODIES-1 in specs/store.md).
    pub store_messages: bool,
    /// Test-only broken variants (see [`Mutation`]).
    pub mutation: Mutation,
    /// Several nodes share one location service (specs/scale-out.md): the core
    /// reports every change of a user's bindings (`Event::BindingsChanged`). Off
    /// (the default): one node, no such events.
    pub share_locations: bool,
}

/// A configuration the core refuses to run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `bye_wait` must stay below 64·T1, or the BYE's sender times out before its 200
    /// (TERM-2).
    #[error("bye_wait ({bye_wait_ms} ms) must be below 64*T1 ({t64_ms} ms)")]
    ByeWaitTooLong {
        /// Configured bye_wait.
        bye_wait_ms: u64,
        /// 64·T1.
        t64_ms: u64,
    },
    /// The domain is empty.
    #[error("the domain must not be empty")]
    NoDomain,
}

impl Config {
    /// Checks the values that would break an invariant (call before `Server::new`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.domain.is_empty() {
            return Err(ConfigError::NoDomain);
        }
        let t64_ms = self.timers.t64_ms();
        if self.timers.bye_wait_ms >= t64_ms {
            return Err(ConfigError::ByeWaitTooLong {
                bye_wait_ms: self.timers.bye_wait_ms,
                t64_ms,
            });
        }
        Ok(())
    }

    /// The port the server advertises in Via and Contact on a flow over `transport`.
    pub fn port_for(&self, transport: crate::Transport) -> u16 {
        match transport {
            crate::Transport::Tls => self.advertised_tls_port.unwrap_or(self.advertised_port),
            crate::Transport::Udp | crate::Transport::Tcp => self.advertised_port,
        }
    }

    /// A configuration for `domain` with defaults everywhere else.
    pub fn new(domain: &str) -> Self {
        Self {
            domain: domain.to_ascii_lowercase(),
            conference_factory_user: "conf-factory".into(),
            advertised_host: "127.0.0.1".into(),
            advertised_port: 5060,
            advertised_tls_port: None,
            msrp: MsrpConfig::default(),
            users: Vec::new(),
            auth: None,
            timers: Timers::default(),
            limits: Limits::default(),
            registration: RegistrationCaps::default(),
            login_failures: Default::default(),
            trust: Default::default(),
            caps: super::caps_config::CoreCaps::default(),
            deferred: super::deferred_config::DeferredConfig::default(),
            seed: Seed::default(),
            store_messages: true,
            mutation: Mutation::None,
            share_locations: false,
        }
    }
}

/// Registrar caps (configuration; SEC-5, enforced in `registration_caps.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RegistrationCaps {
    /// Most bindings (devices) one user may hold (10).
    pub max_devices_per_user: usize,
    /// Most bindings the server holds in all (100,000).
    pub max_bindings: usize,
}

impl Default for RegistrationCaps {
    fn default() -> Self {
        Self {
            max_devices_per_user: 10,
            max_bindings: 100_000,
        }
    }
}
