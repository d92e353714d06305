//! The `[email]` table: the SMTP server members' email goes through (docs/hub.md, "Email").
//! Without `smtp_host` the hub sends no email; every other key then is an error, so a setting
//! with a typo in the host's name is not silently ignored.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use serde::Deserialize;
use tenpo_support::config::{ConfigError, invalid, read_secret_file};

/// The submission port (RFC 6409), with STARTTLS.
pub const DEFAULT_PORT: u16 = 587;
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 20;
pub const DEFAULT_RATE_PER_SECOND: u32 = 10;

/// `[email]` as written in the file. Every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSection {
    /// The SMTP server's host name or address; email is off without it.
    pub smtp_host: Option<String>,
    /// Its port (default 587).
    pub smtp_port: Option<u16>,
    /// `starttls` (default), `tls` (TLS from the first byte, usually port 465) or `none`
    /// (loopback hosts only).
    pub tls: Option<TlsMode>,
    /// The login at the SMTP server, if it asks for one.
    pub username: Option<String>,
    /// A file holding the login's password (its first line).
    pub password_file: Option<PathBuf>,
    /// The sender: `news@shop.example` or `Shop <news@shop.example>`.
    pub from: Option<String>,
    /// Where members' replies go, when not to `from`.
    pub reply_to: Option<String>,
    /// How long sending one email may take, connecting included, in seconds (default 20).
    pub timeout_seconds: Option<u32>,
    /// Emails handed to the server per second at most (default 10).
    pub send_rate_per_second: Option<u32>,
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain at first, then `STARTTLS`, required (the submission port, 587).
    #[default]
    Starttls,
    /// TLS from the first byte ("implicit TLS", port 465).
    Tls,
    /// No encryption: for a relay on this machine only.
    None,
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Starttls => "starttls",
            TlsMode::Tls => "tls",
            TlsMode::None => "none",
        }
    }
}

/// A password read from its file: shown nowhere (its `Debug` is a placeholder).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(secret: String) -> Password {
        Password(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

/// The SMTP login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub username: String,
    pub password: Password,
}

/// Resolved email settings: what [`crate::email::Mailer::new`] takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub tls: TlsMode,
    pub login: Option<Login>,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    pub timeout: Duration,
    pub rate_per_second: std::num::NonZeroU32,
}

impl EmailSettings {
    /// Settings for a server at `host:port` with everything else at its default, `from` the
    /// sender (tests and tools; the hub reads [`resolve`]).
    pub fn new(host: &str, port: u16, tls: TlsMode, from: &str) -> Result<Self, ConfigError> {
        resolve(EmailSection {
            smtp_host: Some(host.to_owned()),
            smtp_port: Some(port),
            tls: Some(tls),
            from: Some(from.to_owned()),
            ..EmailSection::default()
        })?
        .ok_or_else(|| invalid("email.smtp_host", "is missing"))
    }

    /// `host:port`, as errors name the server.
    pub fn server(&self) -> String {
        if self.smtp_host.contains(':') {
            format!("[{}]:{}", self.smtp_host, self.smtp_port)
        } else {
            format!("{}:{}", self.smtp_host, self.smtp_port)
        }
    }
}

/// Whether `host` is this machine: `localhost` or a loopback address.
pub fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A host name or an IP address, as an SMTP server is named.
fn check_host(host: &str) -> Result<(), ConfigError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if host.len() > 253 || !host.trim_end_matches('.').split('.').all(label_ok) {
        return Err(invalid(
            "email.smtp_host",
            format!(
                "{host:?} is not a host name or an IP address (write the host alone, like \
                 smtp.example.jp, without a scheme or port: the port is smtp_port)"
            ),
        ));
    }
    Ok(())
}

fn mailbox(key: &'static str, text: &str) -> Result<Mailbox, ConfigError> {
    text.trim().parse::<Mailbox>().map_err(|e| {
        invalid(
            key,
            format!(
                "{text:?} is not an email address with an optional name, like \
                 news@shop.example or \"Shop <news@shop.example>\" ({e})"
            ),
        )
    })
}

/// The `[email]` table resolved: `None` when `smtp_host` is not set (email off).
pub fn resolve(section: EmailSection) -> Result<Option<EmailSettings>, ConfigError> {
    let Some(host) = section.smtp_host.map(|h| h.trim().to_owned()) else {
        let set = [
            ("email.smtp_port", section.smtp_port.is_some()),
            ("email.tls", section.tls.is_some()),
            ("email.username", section.username.is_some()),
            ("email.password_file", section.password_file.is_some()),
            ("email.from", section.from.is_some()),
            ("email.reply_to", section.reply_to.is_some()),
            ("email.timeout_seconds", section.timeout_seconds.is_some()),
            (
                "email.send_rate_per_second",
                section.send_rate_per_second.is_some(),
            ),
        ];
        if let Some((key, _)) = set.iter().find(|(_, is_set)| *is_set) {
            return Err(invalid(
                key,
                "is set but email.smtp_host is not: set smtp_host to send email, or remove \
                 the [email] table",
            ));
        }
        return Ok(None);
    };
    check_host(&host)?;
    let smtp_port = section.smtp_port.unwrap_or(DEFAULT_PORT);
    if smtp_port == 0 {
        return Err(invalid("email.smtp_port", "must be 1 to 65535"));
    }
    let tls = section.tls.unwrap_or_default();
    if tls == TlsMode::None && !is_loopback(&host) {
        return Err(invalid(
            "email.tls",
            format!(
                "\"none\" sends members' addresses and the login in the clear, so it is only \
                 for a relay on this machine (localhost, 127.0.0.1, ::1), not {host:?}: use \
                 \"starttls\" (port 587) or \"tls\" (port 465)"
            ),
        ));
    }
    let login = match (section.username, section.password_file) {
        (Some(username), Some(path)) => {
            if username.trim().is_empty() {
                return Err(invalid("email.username", "is empty"));
            }
            Some(Login {
                username,
                password: Password::new(read_secret_file("SMTP password", &path)?),
            })
        }
        (None, None) => None,
        (Some(_), None) => {
            return Err(invalid(
                "email.password_file",
                "is missing: a username needs its password, kept in a file of its own",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                "email.username",
                "is missing: password_file is set, so the server asks for a login",
            ));
        }
    };
    let Some(from_text) = section.from else {
        return Err(invalid(
            "email.from",
            "is missing: the address members' email comes from, like news@shop.example",
        ));
    };
    let from = mailbox("email.from", &from_text)?;
    let reply_to = section
        .reply_to
        .map(|t| mailbox("email.reply_to", &t))
        .transpose()?;
    let timeout_seconds = section.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    if !(1..=600).contains(&timeout_seconds) {
        return Err(invalid("email.timeout_seconds", "must be 1 to 600"));
    }
    let rate = section
        .send_rate_per_second
        .unwrap_or(DEFAULT_RATE_PER_SECOND);
    let Some(rate_per_second) = std::num::NonZeroU32::new(rate).filter(|r| r.get() <= 1000) else {
        return Err(invalid("email.send_rate_per_second", "must be 1 to 1000"));
    };
    Ok(Some(EmailSettings {
        smtp_host: host,
        smtp_port,
        tls,
        login,
        from,
        reply_to,
        timeout: Duration::from_secs(u64::from(timeout_seconds)),
        rate_per_second,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn section(toml_text: &str) -> EmailSection {
        toml::from_str(toml_text).unwrap()
    }

    fn error(toml_text: &str) -> String {
        resolve(section(toml_text)).unwrap_err().to_string()
    }

    #[test]
    fn defaults_and_a_named_sender() {
        let s = resolve(section(
            "smtp_host = \"smtp.example.jp\"\nfrom = \"ショップ <news@shop.example>\"",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(s.smtp_port, 587);
        assert_eq!(s.tls, TlsMode::Starttls);
        assert_eq!(s.timeout, Duration::from_secs(20));
        assert_eq!(s.rate_per_second.get(), 10);
        assert_eq!(s.from.email.to_string(), "news@shop.example");
        assert_eq!(s.from.name.as_deref(), Some("ショップ"));
        assert_eq!(s.server(), "smtp.example.jp:587");
        assert!(s.login.is_none());
        assert_eq!(resolve(EmailSection::default()).unwrap(), None);
    }

    #[test]
    fn no_encryption_only_on_this_machine() {
        for host in ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"] {
            let t = format!("smtp_host = {host:?}\ntls = \"none\"\nfrom = \"a@b.example\"");
            assert!(resolve(section(&t)).unwrap().is_some(), "{host}");
        }
        for host in ["smtp.example.jp", "192.0.2.10", "10.0.0.1", "2001:db8::1"] {
            let e = error(&format!(
                "smtp_host = {host:?}\ntls = \"none\"\nfrom = \"a@b.example\""
            ));
            assert!(e.contains("email.tls") && e.contains("this machine"), "{e}");
        }
    }

    #[test]
    fn each_mistake_names_its_key() {
        let cases = [
            ("smtp_host = \"smtp.example.jp\"", "email.from"),
            (
                "smtp_host = \"smtp://x\"\nfrom = \"a@b.example\"",
                "email.smtp_host",
            ),
            (
                "smtp_host = \"x.jp\"\nfrom = \"not an address\"",
                "email.from",
            ),
            (
                "smtp_host = \"x.jp\"\nfrom = \"a@b.example\"\nreply_to = \"@\"",
                "email.reply_to",
            ),
            (
                "smtp_host = \"x.jp\"\nfrom = \"a@b.example\"\nsmtp_port = 0",
                "email.smtp_port",
            ),
            (
                "smtp_host = \"x.jp\"\nfrom = \"a@b.example\"\ntimeout_seconds = 0",
                "email.timeout_seconds",
            ),
            (
                "smtp_host = \"x.jp\"\nfrom = \"a@b.example\"\nsend_rate_per_second = 0",
                "email.send_rate_per_second",
            ),
            (
                "smtp_host = \"x.jp\"\nfrom = \"a@b.example\"\nusername = \"u\"",
                "email.password_file",
            ),
            (
                "smtp_host = \"x.jp\"\nfrom = \"a@b.example\"\npassword_file = \"/p\"",
                "email.username",
            ),
            ("from = \"a@b.example\"", "email.from"),
        ];
        for (text, key) in cases {
            let e = error(text);
            assert!(e.contains(key), "{text}: {e}");
        }
        let e = toml::from_str::<EmailSection>("smtp_hots = \"x\"").unwrap_err();
        assert!(e.to_string().contains("smtp_hots"), "{e}");
        let e = toml::from_str::<EmailSection>("tls = \"ssl\"").unwrap_err();
        assert!(e.to_string().contains("ssl"), "{e}");
    }

    #[test]
    fn the_password_comes_from_its_file_and_is_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("smtp-password");
        std::fs::write(&path, "hunter2-secret\n").unwrap();
        let s = resolve(section(&format!(
            "smtp_host = \"x.jp\"\nfrom = \"a@b.example\"\nusername = \"hub\"\n\
             password_file = {:?}",
            path.display().to_string()
        )))
        .unwrap()
        .unwrap();
        let login = s.login.clone().unwrap();
        assert_eq!(login.password.expose(), "hunter2-secret");
        assert!(!format!("{s:?}").contains("hunter2"));
        let e = error(&format!(
            "smtp_host = \"x.jp\"\nfrom = \"a@b.example\"\nusername = \"hub\"\n\
             password_file = {:?}",
            dir.path().join("absent").display().to_string()
        ));
        assert!(e.contains("SMTP password") && e.contains("absent"), "{e}");
    }
}
