//! The C side of the NATS connection options, shared by the mirror
//! (`transom_mirror_options.nats`) and the remote cursors
//! (`transom_remote_cursor_options.nats`), and the one refusal every NATS function gives when
//! the library was built without the `nats` feature.
//!
//! Invariant: [`nats_options`] is the only conversion from `transom_nats_options`, so both
//! users check URLs, the credentials path and the timeouts the same way, with details that
//! name the field as the header spells it.

use std::ffi::c_char;

#[cfg(feature = "nats")]
use super::args::{check_slice, check_utf8};
use super::status::Failure;

/// One NATS server URL: UTF-8 (`nats://127.0.0.1:4222`, `127.0.0.1:4222`, `tls://host:4222`),
/// not NUL-terminated.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct transom_nats_url {
    /// The URL's bytes.
    pub url: *const c_char,
    /// Its length (1..=1024).
    pub url_len: usize,
}

/// Where and how to connect to NATS. Zero-initialise and set `urls` / `url_count`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct transom_nats_options {
    /// Server URLs (at least one); the client learns the other cluster members from them.
    pub urls: *const transom_nats_url,
    /// Number of entries in `urls`.
    pub url_count: usize,
    /// Path of a NATS credentials file (`.creds`: user JWT + nkey seed), UTF-8; NULL with
    /// length 0 for none.
    pub credentials_file: *const c_char,
    /// Length of `credentials_file` (at most 4096).
    pub credentials_file_len: usize,
    /// Time to establish one connection; 0 = the default (2 s).
    pub connect_timeout_ns: u64,
    /// Time to wait for a JetStream API reply or publish acknowledgement; 0 = the default
    /// (5 s).
    pub request_timeout_ns: u64,
}

/// Longest URL accepted, in bytes.
#[cfg(feature = "nats")]
pub(crate) const MAX_URL_LEN: usize = 1024;
/// Longest credentials path accepted, in bytes.
#[cfg(feature = "nats")]
pub(crate) const MAX_PATH_LEN: usize = 4096;

/// `TRANSOM_ERR_UNSUPPORTED`: what every NATS function returns in a build without the `nats`
/// feature.
#[cfg(not(feature = "nats"))]
pub(crate) const fn unsupported() -> Failure {
    Failure::fixed(
        super::status::TRANSOM_ERR_UNSUPPORTED,
        "transom was built without the nats feature",
    )
}

/// Converts and checks the C options; details name the fields as `options.nats.<field>`.
#[cfg(feature = "nats")]
pub(crate) fn nats_options(o: &transom_nats_options) -> Result<crate::nats::NatsOptions, Failure> {
    use std::time::Duration;

    use crate::nats::connect::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT};

    let urls = check_slice(o.urls, o.url_count, "options.nats.urls")?;
    if urls.is_empty() {
        return Err(Failure::invalid(
            "`options.nats.url_count` is 0: at least one server URL is needed",
        ));
    }
    let urls = urls
        .iter()
        .map(|u| {
            if u.url_len == 0 {
                return Err(Failure::invalid("`options.nats.urls[].url` is empty"));
            }
            check_utf8(u.url, u.url_len, MAX_URL_LEN, "options.nats.urls[].url").map(str::to_owned)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let credentials_file = (o.credentials_file_len != 0)
        .then(|| {
            check_utf8(
                o.credentials_file,
                o.credentials_file_len,
                MAX_PATH_LEN,
                "options.nats.credentials_file",
            )
            .map(std::path::PathBuf::from)
        })
        .transpose()?;
    let or_default = |ns: u64, d: Duration| {
        if ns == 0 {
            d
        } else {
            Duration::from_nanos(ns)
        }
    };
    let options = crate::nats::NatsOptions {
        urls,
        credentials_file,
        connect_timeout: or_default(o.connect_timeout_ns, DEFAULT_CONNECT_TIMEOUT),
        request_timeout: or_default(o.request_timeout_ns, DEFAULT_REQUEST_TIMEOUT),
        name: None,
    };
    options.validate()?;
    Ok(options)
}

#[cfg(all(test, feature = "nats"))]
mod tests {
    use super::*;
    use crate::ffi::status::{TRANSOM_ERR_INVALID_ARGUMENT, TRANSOM_ERR_NULL_ARGUMENT};
    use std::time::Duration;

    fn url(s: &str) -> transom_nats_url {
        transom_nats_url {
            url: s.as_ptr().cast(),
            url_len: s.len(),
        }
    }

    fn options(urls: &[transom_nats_url]) -> transom_nats_options {
        transom_nats_options {
            urls: urls.as_ptr(),
            url_count: urls.len(),
            credentials_file: std::ptr::null(),
            credentials_file_len: 0,
            connect_timeout_ns: 0,
            request_timeout_ns: 0,
        }
    }

    #[test]
    fn zeroed_timeouts_take_the_defaults_and_urls_are_copied() {
        let urls = [url("nats://127.0.0.1:4222"), url("127.0.0.1:4223")];
        let o = nats_options(&options(&urls)).unwrap();
        assert_eq!(o.urls, ["nats://127.0.0.1:4222", "127.0.0.1:4223"]);
        assert_eq!(o.connect_timeout, Duration::from_secs(2));
        assert_eq!(o.request_timeout, Duration::from_secs(5));
        assert_eq!(o.credentials_file, None);
        let mut c = options(&urls);
        let path = "/etc/user.creds";
        c.credentials_file = path.as_ptr().cast();
        c.credentials_file_len = path.len();
        c.connect_timeout_ns = 7;
        let o = nats_options(&c).unwrap();
        assert_eq!(
            o.credentials_file.as_deref(),
            Some(std::path::Path::new(path))
        );
        assert_eq!(o.connect_timeout, Duration::from_nanos(7));
    }

    #[test]
    fn bad_options_are_refused_with_exact_codes() {
        let none: [transom_nats_url; 0] = [];
        assert_eq!(
            nats_options(&options(&none)).unwrap_err().code,
            TRANSOM_ERR_INVALID_ARGUMENT
        );
        let mut o = options(&none);
        o.urls = std::ptr::null(); // (an empty array's pointer is dangling, not NULL)
        o.url_count = 1;
        assert_eq!(
            nats_options(&o).unwrap_err().code,
            TRANSOM_ERR_NULL_ARGUMENT
        );
        let empty = [url("")];
        assert_eq!(
            nats_options(&options(&empty)).unwrap_err().code,
            TRANSOM_ERR_INVALID_ARGUMENT
        );
        let bad = [url("nats://h:port")];
        assert_eq!(
            nats_options(&options(&bad)).unwrap_err().code,
            TRANSOM_ERR_INVALID_ARGUMENT
        );
        let urls = [url("127.0.0.1:4222")];
        let mut o = options(&urls);
        o.credentials_file_len = 3;
        assert_eq!(
            nats_options(&o).unwrap_err().code,
            TRANSOM_ERR_NULL_ARGUMENT
        );
    }
}
