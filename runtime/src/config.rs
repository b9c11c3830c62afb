//! The runtime configuration: a TOML file (all keys optional, see
//! `cpmd.example.toml` at the repository root) that command-line flags override,
//! and its translation into the core's [`cpmd_core::Config`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use cpmd_core::server::{AuthConfig, DigestAlgorithm, Seed, Timers};
use cpmd_core::wire::Limits;
use cpmd_core::UserUri;
use serde::Deserialize;

/// Why a configuration file cannot be read or used.
#[derive(Debug, thiserror::Error)]
pub enum FileConfigError {
    /// The file cannot be read.
    #[error("reading config file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for [`FileConfig`].
    #[error("parsing config file {}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why (line and column included).
        source: toml::de::Error,
    },
    /// The retired `msrp_port` key.
    #[error(
        "{}: `msrp_port` was replaced by the MSRP listener list: \
         [listen] msrp = [\"127.0.0.1:2855\"]",
        path.display()
    )]
    MsrpPortRetired {
        /// The file.
        path: PathBuf,
    },
    /// The `store` setting is not a store URL.
    #[error(transparent)]
    StoreUrl(#[from] crate::store::BadStoreUrl),
    /// `[auth] algorithms` names an algorithm the core does not know.
    #[error("unknown digest algorithm {0:?} (SHA-256 or MD5)")]
    UnknownDigestAlgorithm(String),
    /// `[auth] algorithms` is empty while auth is on.
    #[error("auth.algorithms is empty")]
    NoDigestAlgorithm,
    /// `[msrp] chunk_size` is 0.
    #[error("msrp.chunk_size must be above 0")]
    ZeroChunkSize,
    /// `[trust]` names an address block that does not parse.
    #[error("[trust]: {0}")]
    Trust(#[from] cpmd_core::server::CidrError),
    /// The per-boot token key cannot be read.
    #[error("reading /dev/urandom for the token key")]
    BootEntropy(#[source] std::io::Error),
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// The SIP domain the server is responsible for.
    pub domain: String,
    /// The user part of the conference-factory URI.
    pub conference_factory_user: String,
    /// Instance number, part of the ID seed (unique per instance sharing a store).
    pub instance: u64,
    /// Data directory (created when missing): the default SQLite store `cpmd.db`
    /// and the input trace.
    pub data_dir: PathBuf,
    /// The message store: `sqlite:PATH` (relative to the working directory) or
    /// `postgres://USER:PASSWORD@HOST/DB`; unset: `sqlite:<data_dir>/cpmd.db`.
    pub store: Option<String>,
    /// Whether chat message bodies are stored (default true). False: messages'
    /// metadata and the session history objects are kept, bodies are not
    /// (specs/store.md, BODIES-1).
    pub store_messages: bool,
    /// Removed: replaced by `[listen] msrp`; a file that still sets it is refused
    /// with a message saying so.
    pub msrp_port: Option<u16>,
    /// Users allowed to register, as user names (`alice`) or URIs
    /// (`sip:alice@example.com`). Empty: anyone in `domain`.
    pub users: Vec<String>,
    /// Record every network input to `<data_dir>/input-trace.jsonl` (for replay in
    /// tests; see `runtime/src/trace.rs`).
    pub trace_input: bool,
    /// Listening sockets.
    pub listen: ListenConfig,
    /// Protocol timers.
    pub timers: TimerConfig,
    /// Input and connection limits.
    pub limits: LimitConfig,
    /// Caps on registrations.
    pub registration: RegistrationFileConfig,
    /// SIP digest authentication.
    pub auth: AuthFileConfig,
    /// The MSRP endpoint (back-to-back MSRP).
    pub msrp: MsrpFileConfig,
    /// The IMAP server (users and passwords come from `[auth.passwords]`).
    pub imap: ImapFileConfig,
    /// TLS for the listeners that use it (certificate, key, client CA).
    pub tls: crate::tls::TlsFileConfig,
    /// Trusted proxies, connection targets, password-failure limits (SEC-4f, SEC-6).
    pub trust: crate::trust_config::TrustFileConfig,
    /// Logging (`format`: text or json).
    pub log: crate::logging::LogFileConfig,
    /// The metrics listener (`/metrics`, `/health`, `/ready`).
    pub metrics: crate::metrics::MetricsFileConfig,
    /// Deferred messaging (specs/deferred.md).
    pub deferred: crate::deferred_config::DeferredFileConfig,
    /// The push hook announcing deferred messages.
    pub push: crate::deferred_config::PushFileConfig,
    /// Several nodes on one PostgreSQL store (specs/scale-out.md).
    pub cluster: crate::cluster_config::ClusterFileConfig,
}

/// `[msrp]`: how the server checks and chunks MSRP (specs/msrp.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MsrpFileConfig {
    /// RFC 6714 relaxed `From-Path` matching (the session-id of the terminal's own
    /// URI only), for terminals behind relays that rewrite paths.
    pub relaxed_path_matching: bool,
    /// Bytes per outgoing chunk (larger messages are split with Byte-Range).
    pub chunk_size: usize,
    /// Bytes of partial messages one leg may hold (specs/limits.md, LIM-5).
    pub max_pending_bytes: u64,
    /// Bytes of partial messages all legs together may hold.
    pub max_pending_bytes_total: u64,
    /// A partial message without a new chunk for this long is dropped (seconds).
    pub partial_timeout_s: u64,
}

impl Default for MsrpFileConfig {
    fn default() -> Self {
        let core = cpmd_core::server::MsrpConfig::default();
        let limits = cpmd_core::Config::new("").limits;
        Self {
            relaxed_path_matching: core.relaxed_path_matching,
            chunk_size: core.chunk_size,
            max_pending_bytes: limits.max_msrp_pending_bytes,
            max_pending_bytes_total: limits.max_msrp_pending_bytes_total,
            partial_timeout_s: limits.msrp_partial_timeout_ms / 1000,
        }
    }
}

/// The IMAP listener through which users read their message store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImapFileConfig {
    /// Where to listen (port 0 picks one; the ready line shows it).
    pub listen: SocketAddr,
    /// Most simultaneous IMAP connections; beyond, new ones get BYE.
    pub max_connections: usize,
    /// An IMAP connection silent this long (IDLE included) is closed.
    pub idle_timeout_s: u64,
    /// Largest literal a client may send.
    pub max_literal_bytes: u32,
    /// Most simultaneous IMAP connections from one address (LIM-7).
    pub max_connections_per_ip: usize,
    /// A connection not logged in within this long is closed (LIM-7).
    pub login_timeout_s: u64,
    /// With `[tls]` configured, LOGIN/AUTHENTICATE on the plain listener wait for
    /// STARTTLS (`LOGINDISABLED`); true accepts them without TLS from loopback.
    pub plaintext_login_on_loopback: bool,
}

impl Default for ImapFileConfig {
    fn default() -> Self {
        let d = crate::imap::Settings::default();
        Self {
            listen: ([127, 0, 0, 1], 1143).into(),
            max_connections: d.max_connections,
            idle_timeout_s: d.idle_timeout.as_secs(),
            max_literal_bytes: d.max_literal,
            max_connections_per_ip: d.max_per_ip,
            login_timeout_s: d.login_timeout.as_secs(),
            plaintext_login_on_loopback: false,
        }
    }
}

impl ImapFileConfig {
    /// The listener's limits.
    pub fn settings(&self) -> crate::imap::Settings {
        crate::imap::Settings {
            max_connections: self.max_connections,
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout_s.max(1)),
            max_literal: self.max_literal_bytes,
            max_per_ip: self.max_connections_per_ip,
            login_timeout: std::time::Duration::from_secs(self.login_timeout_s.max(1)),
        }
    }
}

/// SIP digest authentication (RFC 8760): REGISTER is challenged with 401,
/// out-of-dialog INVITE and MESSAGE from local users with 407. Off, a request is
/// attributed to the user registered from the same address (benchmarks, tests).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthFileConfig {
    /// Turns authentication on.
    pub enabled: bool,
    /// The realm; the domain when empty.
    pub realm: String,
    /// Algorithms offered, in order (`SHA-256`, `MD5`).
    pub algorithms: Vec<String>,
    /// How long a nonce is accepted, in seconds.
    pub nonce_ttl_s: u64,
    /// Password per user name.
    pub passwords: std::collections::BTreeMap<String, String>,
}

impl Default for AuthFileConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            realm: String::new(),
            algorithms: vec!["SHA-256".into(), "MD5".into()],
            nonce_ttl_s: 300,
            passwords: Default::default(),
        }
    }
}

impl AuthFileConfig {
    /// The core's view, `None` when off; an unknown algorithm name is an error.
    fn core(&self, domain: &str) -> Result<Option<AuthConfig>, FileConfigError> {
        if !self.enabled {
            return Ok(None);
        }
        let realm = if self.realm.is_empty() {
            domain
        } else {
            &self.realm
        };
        let mut auth = AuthConfig::new(realm, self.passwords.clone());
        auth.nonce_ttl_ms = self.nonce_ttl_s.saturating_mul(1000);
        auth.algorithms = self
            .algorithms
            .iter()
            .map(|a| {
                DigestAlgorithm::from_token(a)
                    .ok_or_else(|| FileConfigError::UnknownDigestAlgorithm(a.clone()))
            })
            .collect::<Result<_, _>>()?;
        if auth.algorithms.is_empty() {
            return Err(FileConfigError::NoDigestAlgorithm);
        }
        Ok(Some(auth))
    }
}

impl Default for FileConfig {
    fn default() -> Self {
        Self {
            domain: "example.com".into(),
            conference_factory_user: "conf-factory".into(),
            instance: 0,
            data_dir: PathBuf::from("./data"),
            store: None,
            store_messages: true,
            msrp_port: None,
            users: Vec::new(),
            trace_input: false,
            listen: ListenConfig::default(),
            timers: TimerConfig::default(),
            limits: LimitConfig::default(),
            registration: RegistrationFileConfig::default(),
            auth: AuthFileConfig::default(),
            msrp: MsrpFileConfig::default(),
            imap: ImapFileConfig::default(),
            tls: Default::default(),
            trust: Default::default(),
            log: Default::default(),
            metrics: Default::default(),
            deferred: Default::default(),
            push: Default::default(),
            cluster: Default::default(),
        }
    }
}

/// Listening sockets; the first one listed (UDP before TCP in the file) gives the
/// address the server advertises in Via and Contact.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenConfig {
    /// SIP over UDP.
    pub udp: Vec<SocketAddr>,
    /// SIP over TCP.
    pub tcp: Vec<SocketAddr>,
    /// SIP over TLS (RFC 3261 §26; usually port 5061); needs `[tls]`. Empty with
    /// `[tls]` configured: one listener on the first SIP listener's IP, port 5061
    /// (port 0 when that listener uses port 0).
    pub tls: Vec<SocketAddr>,
    /// MSRP over TCP; the first is advertised in SDP. Empty: one listener on the
    /// first SIP listener's IP, port 2855 (port 0 when that listener uses port 0).
    pub msrp: Vec<SocketAddr>,
    /// IMAP over implicit TLS (RFC 8314; usually port 993); needs `[tls]`.
    pub imaps: Vec<SocketAddr>,
    /// MSRP over TLS (RFC 4975 §14, `msrps:`); the first is advertised in
    /// `TCP/TLS/MSRP` SDP. Needs `[tls]`; empty: `TCP/TLS/MSRP` offers get 488.
    pub msrps: Vec<SocketAddr>,
}

impl Default for ListenConfig {
    fn default() -> Self {
        let addr: SocketAddr = ([127, 0, 0, 1], 5060).into();
        Self {
            udp: vec![addr],
            tcp: vec![addr],
            tls: Vec::new(),
            msrp: Vec::new(),
            imaps: Vec::new(),
            msrps: Vec::new(),
        }
    }
}

/// Timer values in milliseconds (seconds where named so).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimerConfig {
    /// RFC 3261 T1.
    pub t1_ms: u64,
    /// RFC 3261 T2.
    pub t2_ms: u64,
    /// RFC 3261 T4.
    pub t4_ms: u64,
    /// Timer C: how long an INVITE the server sent may ring before it is CANCELled.
    pub timer_c_ms: u64,
    /// Wait for the answer to a relayed BYE (TERM-2).
    pub bye_wait_ms: u64,
    /// Wait for B's BYE on a replaced 1-to-1 (TERM-3).
    pub replaced_bye_timeout_ms: u64,
    /// Registration expiry default and upper bound.
    pub default_expires_s: u32,
}

impl Default for TimerConfig {
    fn default() -> Self {
        let t = Timers::default();
        Self {
            t1_ms: t.t1_ms,
            t2_ms: t.t2_ms,
            t4_ms: t.t4_ms,
            timer_c_ms: t.timer_c_ms,
            bye_wait_ms: t.bye_wait_ms,
            replaced_bye_timeout_ms: t.replaced_bye_timeout_ms,
            default_expires_s: t.default_expires_s,
        }
    }
}

/// `[registration]`: caps on the registrar (SEC-5, specs/security.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationFileConfig {
    /// Most devices (bindings) per user; beyond, REGISTER gets 403.
    pub max_devices_per_user: usize,
    /// Most bindings in all; beyond, REGISTER gets 503.
    pub max_bindings: usize,
}

impl Default for RegistrationFileConfig {
    fn default() -> Self {
        let core = cpmd_core::server::RegistrationCaps::default();
        Self {
            max_devices_per_user: core.max_devices_per_user,
            max_bindings: core.max_bindings,
        }
    }
}

/// Limits on input and connections.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitConfig {
    /// Most simultaneous TCP connections (inbound and outbound); beyond, new inbound
    /// connections are closed at once.
    pub max_connections: usize,
    /// A TCP connection with no traffic for this long is closed.
    pub tcp_idle_timeout_s: u64,
    /// Most bytes queued for one TCP connection (SIP or MSRP); past it the
    /// connection is closed (specs/limits.md, LIM-6).
    pub tcp_write_queue_bytes: usize,
    /// A TCP write the peer does not take within this long closes the connection.
    pub tcp_write_timeout_s: u64,
    /// Most inbound TCP connections from one address, per listener (LIM-7).
    pub max_connections_per_ip: usize,
    /// An inbound TCP connection that sends nothing for this long is closed.
    pub tcp_first_bytes_timeout_s: u64,
    /// Largest header block of one SIP message.
    pub max_header_bytes: usize,
    /// Largest body of one SIP message.
    pub max_body_bytes: usize,
    /// Most header lines of one SIP message.
    pub max_header_count: usize,
    /// Caps on the core's tables (specs/limits.md, LIM-11..LIM-13).
    pub max_transactions: usize,
    /// Most sessions at once; a new INVITE beyond gets 503.
    pub max_sessions: usize,
    /// Most messages of one session waiting for the store; beyond, MSRP 413.
    pub max_pending_per_session: usize,
    /// Most messages one session takes on; beyond, MSRP 413.
    pub max_messages_per_session: usize,
    /// `Retry-After` of a 503 for a full table, seconds.
    pub retry_after_s: u32,
    /// Bytes of message objects one user's store may hold (LIM-14).
    pub user_quota_bytes: u64,
}

impl Default for LimitConfig {
    fn default() -> Self {
        let l = Limits::default();
        let caps = cpmd_core::server::CoreCaps::default();
        Self {
            max_connections: 1024,
            tcp_idle_timeout_s: 600,
            // Above the largest MSRP message (16 MiB), so one whole relayed message
            // always fits.
            tcp_write_queue_bytes: 32 * 1024 * 1024,
            tcp_write_timeout_s: 30,
            // Loopback tests and benchmarks, and a proxy in front, stay far below.
            max_connections_per_ip: 256,
            tcp_first_bytes_timeout_s: 10,
            max_header_bytes: l.max_header_bytes,
            max_body_bytes: l.max_body_bytes,
            max_header_count: l.max_header_count,
            max_transactions: caps.max_transactions,
            max_sessions: caps.max_sessions,
            max_pending_per_session: caps.max_pending_per_session,
            max_messages_per_session: caps.max_messages_per_session,
            retry_after_s: caps.retry_after_s,
            user_quota_bytes: crate::store::quota::DEFAULT_USER_QUOTA_BYTES,
        }
    }
}

impl FileConfig {
    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> Result<Self, FileConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| FileConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let cfg: Self = toml::from_str(&text).map_err(|source| FileConfigError::Parse {
            path: path.to_owned(),
            source,
        })?;
        if cfg.msrp_port.is_some() {
            return Err(FileConfigError::MsrpPortRetired {
                path: path.to_owned(),
            });
        }
        Ok(cfg)
    }

    /// The message store's URL (the default when `store` is unset).
    pub fn store_url(&self) -> Result<crate::store::StoreUrl, FileConfigError> {
        match &self.store {
            Some(text) => Ok(crate::store::StoreUrl::parse(text)?),
            None => Ok(crate::store::StoreUrl::default_in(&self.data_dir)),
        }
    }

    /// The users list as canonical identities: a bare name becomes
    /// `sip:name@domain`.
    fn user_uris(&self, domain: &str) -> Vec<UserUri> {
        self.users
            .iter()
            .map(|u| {
                if u.starts_with("sip:") || u.starts_with("tel:") {
                    UserUri::new_canonical(u.clone())
                } else if u.contains('@') {
                    UserUri::new_canonical(format!("sip:{u}"))
                } else {
                    UserUri::new_canonical(format!("sip:{u}@{domain}"))
                }
            })
            .collect()
    }

    /// The core configuration, advertising `advertised` in Via/Contact and `msrp` (the
    /// first MSRP listener, bound) in SDP, seeded with `key` (the per-boot
    /// token key, from OS entropy).
    pub fn core_config(
        &self,
        advertised: SocketAddr,
        msrp: SocketAddr,
        key: [u8; 32],
    ) -> Result<cpmd_core::Config, FileConfigError> {
        let mut c = cpmd_core::Config::new(&self.domain);
        c.conference_factory_user = self.conference_factory_user.clone();
        c.store_messages = self.store_messages;
        // Unbracketed: the core brackets an IPv6 address where the syntax needs it.
        c.advertised_host = advertised.ip().to_string();
        c.advertised_port = advertised.port();
        c.msrp.advertised = msrp;
        c.msrp.relaxed_path_matching = self.msrp.relaxed_path_matching;
        if self.msrp.chunk_size == 0 {
            return Err(FileConfigError::ZeroChunkSize);
        }
        c.msrp.chunk_size = self.msrp.chunk_size;
        c.limits.max_msrp_pending_bytes = self.msrp.max_pending_bytes;
        c.limits.max_msrp_pending_bytes_total = self.msrp.max_pending_bytes_total;
        c.limits.msrp_partial_timeout_ms = self.msrp.partial_timeout_s.saturating_mul(1000);
        c.users = self.user_uris(&c.domain);
        c.timers = Timers {
            t1_ms: self.timers.t1_ms,
            t2_ms: self.timers.t2_ms,
            t4_ms: self.timers.t4_ms,
            timer_c_ms: self.timers.timer_c_ms,
            bye_wait_ms: self.timers.bye_wait_ms,
            replaced_bye_timeout_ms: self.timers.replaced_bye_timeout_ms,
            default_expires_s: self.timers.default_expires_s,
        };
        c.limits.max_header_bytes = self.limits.max_header_bytes;
        c.limits.max_body_bytes = self.limits.max_body_bytes;
        c.limits.max_header_count = self.limits.max_header_count;
        c.caps = cpmd_core::server::CoreCaps {
            max_transactions: self.limits.max_transactions,
            max_sessions: self.limits.max_sessions,
            max_pending_per_session: self.limits.max_pending_per_session,
            max_messages_per_session: self.limits.max_messages_per_session,
            retry_after_s: self.limits.retry_after_s,
        };
        c.registration = cpmd_core::server::RegistrationCaps {
            max_devices_per_user: self.registration.max_devices_per_user,
            max_bindings: self.registration.max_bindings,
        };
        c.seed = Seed {
            instance: self.instance,
            key,
        };
        c.auth = self.auth.core(&c.domain)?;
        c.trust = self.trust.core()?;
        c.login_failures = self.trust.failures();
        c.deferred = self.deferred.core();
        Ok(c)
    }
}

/// 256 bits of OS entropy: the per-boot key of the core's token PRF
/// (`core/src/server/token.rs`), so tags, nonces and IDs cannot be predicted.
pub fn token_key() -> Result<[u8; 32], FileConfigError> {
    use std::io::Read as _;
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .map_err(FileConfigError::BootEntropy)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_serves_on_loopback() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cpmd.example.toml");
        let cfg = FileConfig::load(&path).expect("example config parses");
        for addr in cfg.listen.udp.iter().chain(&cfg.listen.tcp) {
            assert!(addr.ip().is_loopback(), "{addr} is not loopback");
        }
        assert!(
            cfg.imap.listen.ip().is_loopback(),
            "IMAP is not on loopback"
        );
    }

    #[test]
    fn msrp_port_is_refused_with_a_pointer_to_listen_msrp() {
        let dir = std::env::temp_dir().join(format!("cpmd-msrp-port-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("old.toml");
        std::fs::write(&path, "msrp_port = 2856\n").unwrap();
        let err = FileConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("[listen] msrp"), "{err}");
        std::fs::write(
            &path,
            "[listen]\nmsrp = [\"127.0.0.1:0\"]\n[msrp]\nchunk_size = 100\n",
        )
        .unwrap();
        let cfg = FileConfig::load(&path).unwrap();
        assert_eq!(cfg.listen.msrp, vec!["127.0.0.1:0".parse().unwrap()]);
        assert_eq!(cfg.msrp.chunk_size, 100);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn empty_file_means_defaults() {
        let cfg: FileConfig = toml::from_str("").unwrap();
        assert_eq!(cfg.domain, "example.com");
        assert_eq!(cfg.data_dir, PathBuf::from("./data"));
        assert_eq!(cfg.listen.udp, vec!["127.0.0.1:5060".parse().unwrap()]);
    }

    #[test]
    fn users_become_identities_and_v6_hosts_are_plain() {
        let cfg: FileConfig = toml::from_str(
            "domain = \"Example.COM\"\nusers = [\"alice\", \"sip:bob@example.com\"]\n",
        )
        .unwrap();
        let core = cfg
            .core_config(
                "[::1]:5070".parse().unwrap(),
                "[::1]:2855".parse().unwrap(),
                [7; 32],
            )
            .unwrap();
        assert_eq!(core.users[0].as_str(), "sip:alice@example.com");
        assert_eq!(core.users[1].as_str(), "sip:bob@example.com");
        assert_eq!(core.advertised_host, "::1");
        assert_eq!(core.advertised_port, 5070);
        assert_eq!(core.seed.key, [7; 32]);
    }
}
