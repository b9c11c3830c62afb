//! Several cpmd nodes on one PostgreSQL database (specs/scale-out.md): the node
//! lease rows (SCALE-1), the take-over of a dead node (SCALE-2: its open sessions
//! sealed as crashed, its registrations moved to the node that took it over) and
//! the location rows every node's registrar writes (SCALE-3).
//!
//! Every time here is the database's clock (milliseconds since the Unix epoch), so
//! the nodes' own clocks are never compared with each other.
//!
//! What it is *not*: the sealing itself (`history.rs`'s crash recovery, run for the
//! dead node's instance), the runtime's heartbeat task (`crate::cluster`), nor
//! SQLite: a SQLite store is one node's alone.

use tokio::sync::broadcast;

use crate::mailstore::MailChange;
use crate::store::history::HistoryWriter;
use crate::store::postgres::PgConn;
use crate::store::sql::{in_tx, Conn, DbError, Val};

/// The database's clock in milliseconds since the Unix epoch, as SQL.
const DB_NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// One binding as the location table holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationRow {
    /// The address-of-record (`sip:user@domain`).
    pub aor: String,
    /// The printed contact URI: the binding's key.
    pub contact_key: String,
    /// The Contact as registered (name-addr, without `expires`).
    pub contact: String,
    /// Milliseconds the binding has left by the database's clock; 0 when it is
    /// gone (expired or removed).
    pub left_ms: u64,
    /// The node that owns the binding.
    pub instance: i64,
    /// Where that node's SIP is reached.
    pub node_address: String,
    /// The transport of the flow the REGISTER came over (`udp`, `tcp`, `tls`).
    pub transport: String,
    /// The address that REGISTER came from.
    pub flow_peer: String,
    /// The row's change counter.
    pub version: i64,
}

/// One of this node's bindings to write (SCALE-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindingRow<'a> {
    /// The printed contact URI: the binding's key.
    pub contact_key: &'a str,
    /// The Contact as registered.
    pub contact: &'a str,
    /// Milliseconds it has left.
    pub expires_ms: u64,
    /// `udp`, `tcp` or `tls`: the transport of the flow it was registered over.
    pub transport: &'a str,
    /// The address it was registered from.
    pub flow_peer: &'a str,
}

/// A node that was taken over (SCALE-2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenOver {
    /// The dead node's instance number.
    pub instance: i64,
    /// The Contribution-IDs of its sessions, now sealed as crashed.
    pub sealed: Vec<String>,
    /// How many of its location rows the taking node now owns.
    pub bindings: u64,
}

/// The cluster's rows, over a connection of its own.
pub struct Cluster {
    conn: PgConn,
    url: String,
    instance: i64,
    sip_address: String,
}

impl Cluster {
    /// Connects for node `instance`, reached at `sip_address` (host:port).
    pub fn connect(url: &str, instance: i64, sip_address: &str) -> Result<Self, DbError> {
        Ok(Self {
            conn: PgConn::connect(url)?,
            url: url.to_owned(),
            instance,
            sip_address: sip_address.to_owned(),
        })
    }

    /// SCALE-1: writes or renews this node's lease for `lease_ms` from now.
    pub fn heartbeat(&mut self, lease_ms: u64) -> Result<(), DbError> {
        let lease = i64::try_from(lease_ms).map_err(DbError::data)?;
        let sql = format!(
            "INSERT INTO node_leases (instance, sip_address, expires_at, started_at) \
             VALUES ($1, $2, {DB_NOW_MS} + $3, {DB_NOW_MS}) \
             ON CONFLICT (instance) DO UPDATE SET sip_address = EXCLUDED.sip_address, \
             expires_at = EXCLUDED.expires_at"
        );
        self.conn.exec(
            &sql,
            &[
                self.instance.into(),
                Val::Text(self.sip_address.clone()),
                lease.into(),
            ],
        )?;
        Ok(())
    }

    /// The live nodes other than this one: instance and SIP address.
    pub fn live_nodes(&mut self) -> Result<Vec<(i64, String)>, DbError> {
        let sql = format!(
            "SELECT instance, sip_address FROM node_leases \
             WHERE instance <> $1 AND expires_at > {DB_NOW_MS} ORDER BY instance"
        );
        self.conn
            .query(&sql, &[self.instance.into()])?
            .iter()
            .map(|r| Ok((r.int(0)?, r.text(1)?)))
            .collect()
    }

    /// The nodes whose lease has run out (other than this one).
    pub fn expired_nodes(&mut self) -> Result<Vec<i64>, DbError> {
        let sql = format!(
            "SELECT instance FROM node_leases \
             WHERE instance <> $1 AND expires_at <= {DB_NOW_MS} ORDER BY instance"
        );
        self.conn
            .query(&sql, &[self.instance.into()])?
            .iter()
            .map(|r| r.int(0))
            .collect()
    }

    /// SCALE-2: takes over every node whose lease ran out and whose own
    /// connection is gone (see [`Cluster::take_over`]).
    pub fn take_over_expired(
        &mut self,
        feed: &broadcast::Sender<MailChange>,
    ) -> Result<Vec<TakenOver>, DbError> {
        let mut taken = Vec::new();
        for dead in self.expired_nodes()? {
            if let Some(t) = self.take_over(dead, feed)? {
                taken.push(t);
            }
        }
        Ok(taken)
    }

    /// SCALE-2: takes over node `dead`, whose lease ran out: only once its instance
    /// lock (SEC-7) is free, i.e. its connection to the database is gone (a node
    /// that is merely slow to renew still holds it, and is left alone); then seals
    /// its open sessions as crashed, moves its location rows to this node and
    /// deletes its lease. `None`: not taken (its connection lives, another node
    /// took it first, or it renewed its lease meanwhile). Holding the lock while
    /// this runs keeps a restarting `dead` (and any other node) out.
    pub fn take_over(
        &mut self,
        dead: i64,
        feed: &broadcast::Sender<MailChange>,
    ) -> Result<Option<TakenOver>, DbError> {
        if dead == self.instance {
            return Ok(None);
        }
        let mut conn = PgConn::connect(&self.url)?;
        if !conn.try_hold_instance(dead)? {
            return Ok(None);
        }
        let still_expired = format!(
            "SELECT instance FROM node_leases WHERE instance = $1 AND expires_at <= {DB_NOW_MS}"
        );
        if conn.query_opt(&still_expired, &[dead.into()])?.is_none() {
            return Ok(None);
        }
        let mut writer = HistoryWriter::new(conn, dead, feed.clone());
        let sealed = writer.recover()?;
        let (me, address) = (self.instance, self.sip_address.clone());
        let bindings = in_tx(writer.conn_mut(), |c| {
            let moved = c.exec(
                "UPDATE locations SET instance = $1, node_address = $2, \
                 version = nextval('locations_version') WHERE instance = $3",
                &[me.into(), Val::Text(address), dead.into()],
            )?;
            c.exec(
                "DELETE FROM node_leases WHERE instance = $1",
                &[dead.into()],
            )?;
            Ok(moved)
        })?;
        // Dropping the writer closes its connection, which releases the lock.
        Ok(Some(TakenOver {
            instance: dead,
            sealed,
            bindings,
        }))
    }

    /// SCALE-3: writes this node's binding of `aor` at `contact_key`, good for
    /// `expires_ms` from now, reached over `transport` at `flow_peer`.
    pub fn put_binding(&mut self, aor: &str, b: &BindingRow<'_>) -> Result<(), DbError> {
        let expires = i64::try_from(b.expires_ms).map_err(DbError::data)?;
        let sql = format!(
            "INSERT INTO locations (aor, contact_key, contact, expires_at, instance, node_address, \
             transport, flow_peer, version) \
             VALUES ($1, $2, $3, {DB_NOW_MS} + $4, $5, $6, $7, $8, nextval('locations_version')) \
             ON CONFLICT (aor, contact_key) DO UPDATE SET contact = EXCLUDED.contact, \
             expires_at = EXCLUDED.expires_at, instance = EXCLUDED.instance, \
             node_address = EXCLUDED.node_address, transport = EXCLUDED.transport, \
             flow_peer = EXCLUDED.flow_peer, version = EXCLUDED.version"
        );
        self.conn.exec(
            &sql,
            &[
                Val::Text(aor.to_owned()),
                Val::Text(b.contact_key.to_owned()),
                Val::Text(b.contact.to_owned()),
                expires.into(),
                self.instance.into(),
                Val::Text(self.sip_address.clone()),
                Val::Text(b.transport.to_owned()),
                Val::Text(b.flow_peer.to_owned()),
            ],
        )?;
        Ok(())
    }

    /// SCALE-3: makes this node's rows of `aor` say `bindings` and nothing else
    /// (the others of this node are marked gone), in one transaction.
    pub fn replace_bindings(
        &mut self,
        aor: &str,
        bindings: &[BindingRow<'_>],
    ) -> Result<(), DbError> {
        self.conn.begin()?;
        let result = (|| {
            let sql = format!(
                "SELECT contact_key FROM locations WHERE aor = $1 AND instance = $2 \
                 AND expires_at > {DB_NOW_MS}"
            );
            let held = self
                .conn
                .query(&sql, &[Val::Text(aor.to_owned()), self.instance.into()])?;
            for row in held {
                let key = row.text(0)?;
                if !bindings.iter().any(|b| b.contact_key == key) {
                    self.remove_binding(aor, &key)?;
                }
            }
            for b in bindings {
                self.put_binding(aor, b)?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => self.conn.commit(),
            Err(e) => {
                let _ = self.conn.rollback();
                Err(e)
            }
        }
    }

    /// SCALE-3: marks a binding gone (expired now, with a new version, so the other
    /// nodes' reads of changed rows see the removal). Only this node's own row.
    pub fn remove_binding(&mut self, aor: &str, contact_key: &str) -> Result<(), DbError> {
        self.conn.exec(
            &format!(
                "UPDATE locations SET expires_at = LEAST(expires_at, {DB_NOW_MS}), \
                 version = nextval('locations_version') \
                 WHERE aor = $1 AND contact_key = $2 AND instance = $3"
            ),
            &[
                Val::Text(aor.to_owned()),
                Val::Text(contact_key.to_owned()),
                self.instance.into(),
            ],
        )?;
        Ok(())
    }

    /// The location rows changed after `version` (those of every node, this one's
    /// included), in version order.
    pub fn changed_since(&mut self, version: i64) -> Result<Vec<LocationRow>, DbError> {
        let sql = format!(
            "SELECT aor, contact_key, contact, GREATEST(expires_at - {DB_NOW_MS}, 0), instance, \
             node_address, transport, flow_peer, version FROM locations WHERE version > $1 \
             ORDER BY version"
        );
        self.conn
            .query(&sql, &[version.into()])?
            .iter()
            .map(|r| {
                Ok(LocationRow {
                    aor: r.text(0)?,
                    contact_key: r.text(1)?,
                    contact: r.text(2)?,
                    left_ms: u64::try_from(r.int(3)?).map_err(DbError::data)?,
                    instance: r.int(4)?,
                    node_address: r.text(5)?,
                    transport: r.text(6)?,
                    flow_peer: r.text(7)?,
                    version: r.int(8)?,
                })
            })
            .collect()
    }

    /// Deletes rows that have been gone for longer than `grace_ms` (a reader that
    /// polls more often than that has seen them go).
    pub fn purge_gone(&mut self, grace_ms: u64) -> Result<u64, DbError> {
        let grace = i64::try_from(grace_ms).map_err(DbError::data)?;
        let sql = format!("DELETE FROM locations WHERE expires_at < {DB_NOW_MS} - $1");
        self.conn.exec(&sql, &[grace.into()])
    }
}
