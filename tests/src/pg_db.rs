//! A throw-away PostgreSQL database for one end-to-end test, in the server named by
//! `CPMD_TEST_PG` (a URL of a role that may create databases; `scripts/test` sets it
//! up). Missing: a failure under `CI=true`, a loud skip otherwise. Dropped (with
//! `FORCE`) when the value is dropped.

/// A database created for one test.
pub struct TestDb {
    admin: String,
    name: String,
    /// Its `postgres://` URL (the admin URL with the database replaced).
    pub url: String,
}

impl TestDb {
    /// Creates the database `cpmd_e2e_<tag>_<pid>`, or `None` (skip) when
    /// `CPMD_TEST_PG` is not set outside CI.
    pub fn create(tag: &str) -> Option<Self> {
        let Ok(admin) = std::env::var("CPMD_TEST_PG") else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CPMD_TEST_PG is not set: the PostgreSQL end-to-end tests are required under CI=true"
            );
            eprintln!("SKIPPED: CPMD_TEST_PG is not set (run scripts/test)");
            return None;
        };
        let name = format!("cpmd_e2e_{tag}_{}", std::process::id());
        let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("CPMD_TEST_PG");
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .expect("drop an old test database");
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        let (base, query) = admin.split_once('?').unwrap_or((&admin, ""));
        let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        let url = format!("{base}/{name}{query}");
        Some(Self { admin, name, url })
    }

    /// The first column of every row `sql` returns on this database, as text.
    pub fn query_text(&self, sql: &str) -> Vec<String> {
        let mut c = postgres::Client::connect(&self.url, postgres::NoTls).expect("connect");
        c.query(sql, &[])
            .expect("query")
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect()
    }

    /// The state (`open`, `sealed`, …) of the session `contribution` in the cpmd
    /// store on this database, read as cpmd's own inspection reads it.
    pub fn session_state(&self, contribution: &str) -> Option<String> {
        let url = cpmd::store::StoreUrl::parse(&self.url).expect("store URL");
        cpmd::store::inspect::read_contents(&url)
            .expect("read the store")
            .sessions
            .into_iter()
            .find(|s| s.contribution_id == contribution)
            .map(|s| s.state)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
