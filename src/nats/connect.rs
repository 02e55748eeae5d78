//! Connection options and the one place that turns them into a connected client and a
//! JetStream context.
//!
//! Invariant: every NATS connection transom makes goes through [`connect`], so timeouts,
//! credentials and reconnect behaviour are the same for the mirror and the remote cursors.
//! After the first successful connect the client reconnects by itself (no limit); a first
//! connect that fails returns an error and the caller decides when to try again.

use std::path::PathBuf;
use std::time::Duration;

use super::error::NatsError;

/// Default time to establish one connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default time to wait for a JetStream API reply or a publish acknowledgement.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how to connect to NATS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsOptions {
    /// Server URLs (`nats://127.0.0.1:4222`, `127.0.0.1:4222`, `tls://…`); at least one. The
    /// client also learns the other cluster members from the servers.
    pub urls: Vec<String>,
    /// A NATS credentials file (`.creds`: user JWT + nkey seed), or `None`.
    pub credentials_file: Option<PathBuf>,
    /// Time to establish one connection.
    pub connect_timeout: Duration,
    /// Time to wait for a JetStream API reply or a publish acknowledgement.
    pub request_timeout: Duration,
    /// The connection's name as the server shows it (monitoring), or `None`.
    pub name: Option<String>,
}

impl NatsOptions {
    /// Options for `urls` with default timeouts and no credentials.
    pub fn new<S: Into<String>>(urls: impl IntoIterator<Item = S>) -> NatsOptions {
        NatsOptions {
            urls: urls.into_iter().map(Into::into).collect(),
            credentials_file: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            name: None,
        }
    }

    /// Checks what can be checked without a server: at least one URL, each one parses, and
    /// the timeouts are not zero.
    pub fn validate(&self) -> Result<(), NatsError> {
        if self.urls.is_empty() {
            return Err(NatsError::InvalidOptions("no server URL given".into()));
        }
        for url in &self.urls {
            url.parse::<async_nats::ServerAddr>().map_err(|e| {
                NatsError::InvalidOptions(format!("server URL {url:?} does not parse: {e}"))
            })?;
        }
        if self.connect_timeout.is_zero() || self.request_timeout.is_zero() {
            return Err(NatsError::InvalidOptions(
                "connect and request timeouts must be above zero".into(),
            ));
        }
        Ok(())
    }
}

/// A connected client and its JetStream context (whose API requests and publish acks use
/// `request_timeout`).
#[derive(Clone)]
pub struct Connection {
    /// The core client.
    pub client: async_nats::Client,
    /// JetStream on that client.
    pub js: async_nats::jetstream::Context,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("server", &self.client.server_info().server_name)
            .finish()
    }
}

impl Connection {
    /// The server's maximum message size (payload + headers), as it announced it.
    pub fn max_payload(&self) -> usize {
        self.client.server_info().max_payload
    }
}

/// Connects (one attempt over every URL; must run on a tokio runtime with time and I/O, such
/// as [`super::runtime::NatsRuntime`]).
pub async fn connect(options: &NatsOptions) -> Result<Connection, NatsError> {
    options.validate()?;
    let addrs = options
        .urls
        .iter()
        .map(|u| u.parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| NatsError::InvalidOptions(e.to_string()))?;
    let mut co = async_nats::ConnectOptions::new()
        .connection_timeout(options.connect_timeout)
        .request_timeout(Some(options.request_timeout))
        .max_reconnects(None)
        // Reconnect promptly after a node restart; the client's default starts at 0 and
        // grows to several seconds, which would hold a mirror back long after the server is
        // back.
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((50u64 << attempts.min(5)).min(1000))
        });
    if let Some(name) = &options.name {
        co = co.name(name);
    }
    if let Some(path) = &options.credentials_file {
        co = co
            .credentials_file(path)
            .await
            .map_err(|e| NatsError::Credentials {
                path: path.clone(),
                reason: e.to_string(),
            })?;
    }
    let client = co.connect(addrs).await.map_err(connect_error)?;
    let js = async_nats::jetstream::ContextBuilder::new()
        .timeout(options.request_timeout)
        .build(client.clone());
    Ok(Connection { client, js })
}

fn connect_error(e: async_nats::ConnectError) -> NatsError {
    use async_nats::ConnectErrorKind as K;
    match e.kind() {
        K::ServerParse => NatsError::InvalidOptions(e.to_string()),
        K::Authentication | K::AuthorizationViolation => NatsError::Refused(e.to_string()),
        K::TimedOut => NatsError::Timeout(format!("connect: {e}")),
        _ => NatsError::Unavailable(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_need_a_parsable_url_and_positive_timeouts() {
        assert!(NatsOptions::new(["nats://127.0.0.1:4222"])
            .validate()
            .is_ok());
        assert!(NatsOptions::new(["127.0.0.1:4222", "tls://h:1"])
            .validate()
            .is_ok());
        let none: [&str; 0] = [];
        assert!(matches!(
            NatsOptions::new(none).validate(),
            Err(NatsError::InvalidOptions(_))
        ));
        assert!(matches!(
            NatsOptions::new(["nats://host:notaport"]).validate(),
            Err(NatsError::InvalidOptions(_))
        ));
        let mut o = NatsOptions::new(["127.0.0.1:4222"]);
        o.connect_timeout = Duration::ZERO;
        assert!(o.validate().is_err());
    }

    #[test]
    fn a_server_that_is_not_there_is_unavailable() {
        // A port nobody listens on: bind one, then close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let rt = super::super::runtime::NatsRuntime::start("transom-nats-test").unwrap();
        let o = NatsOptions::new([format!("nats://127.0.0.1:{port}")]);
        let r = rt.block_on(async move { connect(&o).await }).unwrap();
        assert!(matches!(r, Err(NatsError::Unavailable(_))), "{r:?}");
    }
}
