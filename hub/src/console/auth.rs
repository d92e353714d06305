//! Staff authentication (docs/design.md §7): passwords as argon2id PHC strings, checked in the
//! blocking pool; the session is 32 random bytes in the `tenpo_console` cookie (HttpOnly,
//! SameSite=Strict, Path=/console, Secure when the request came over TLS), of which the store
//! keeps only the SHA-256; every session has its own CSRF token that each form carries and each
//! POST must present (compared in constant time).

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

use super::error::ConsoleError;
use super::form::Form;
use super::roles::{Can, allows, roles_for};
use crate::api::AppState;
use crate::secrets::{RandomError, random_bytes, sha256};
use crate::store::HubStore;
use crate::store::console::{NewSession, Role};

/// The session cookie.
pub const SESSION_COOKIE: &str = "tenpo_console";
/// The sign-in form's own token (double submit: the form and this cookie must match).
pub const SIGN_IN_COOKIE: &str = "tenpo_console_sign_in";
/// The page language chosen with `?lang=`.
pub const LANG_COOKIE: &str = "tenpo_console_lang";
/// The shortest password a staff account may have.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest password taken (argon2 reads all of it).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The longest staff name.
pub const MAX_NAME_CHARS: usize = 64;

/// Why a password or name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is shorter than {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password is longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error(
        "a staff name is 1 to {MAX_NAME_CHARS} letters, digits, `.`, `_`, `-` or `@`, without spaces"
    )]
    BadName,
    #[error("the password could not be hashed: {0}")]
    Hash(String),
}

/// Whether `name` can name a staff account.
pub fn check_name(name: &str) -> Result<(), PasswordError> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(PasswordError::BadName)
    }
}

/// The argon2id hash of a new password (PHC string, random salt). Slow on purpose: call it off
/// the async threads.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` is the one `hash` was made of. With no hash (an unknown name), a hash of
/// the same cost is checked anyway, so the answer takes as long either way.
pub fn password_matches(hash: Option<&str>, password: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let argon = Argon2::default();
    match hash {
        Some(h) => argon.verify_password(password.as_bytes(), h).is_ok(),
        None => {
            // A fixed salt: this needs no randomness, and its result is thrown away.
            let _ = argon.hash_password_with_salt(password.as_bytes(), b"tenpo-console-dummy-salt");
            false
        }
    }
}

/// [`password_matches`] in the blocking pool.
pub async fn verify(hash: Option<String>, password: String) -> bool {
    tokio::task::spawn_blocking(move || password_matches(hash.as_deref(), &password))
        .await
        .unwrap_or(false)
}

/// 32 random bytes, base64url without padding.
pub fn random_token() -> Result<String, RandomError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// A new session: the cookie's token, and what the store keeps of it.
pub fn new_session(
    app_absolute: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<(String, NewSession), RandomError> {
    let token = random_token()?;
    let session = NewSession {
        token_hash: sha256(token.as_bytes()),
        csrf: random_token()?,
        expires_ms: (now + app_absolute).timestamp_millis(),
    };
    Ok((token, session))
}

/// Whether the request reached the TLS proxy over HTTPS (the hub itself speaks plain HTTP
/// behind it): its cookies are then `Secure`.
pub fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` for the console's path: `max_age` seconds (0 deletes it).
pub fn set_cookie(name: &str, value: &str, max_age: i64, https: bool, strict: bool) -> HeaderValue {
    let mut text = format!("{name}={value}; Path=/console; Max-Age={max_age}; HttpOnly");
    text.push_str(if strict {
        "; SameSite=Strict"
    } else {
        "; SameSite=Lax"
    });
    if https {
        text.push_str("; Secure");
    }
    // Names are ours and values base64url or `ja`/`en`: always a valid header.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("x=; Max-Age=0"))
}

/// Whether `given` is `expected`, in constant time.
pub fn same_token(given: &str, expected: &str) -> bool {
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// A signed-in staff member (the extractor every console page but sign-in uses). Without a
/// session cookie the request goes to the sign-in page; with one that is no longer valid
/// (expired, ended, idle too long, unknown) to the sign-in page saying the session expired.
#[derive(Debug, Clone)]
pub struct Staff {
    pub name: String,
    pub role: Role,
    pub csrf: String,
    pub token_hash: [u8; 32],
}

impl Staff {
    /// Refuses (403) unless the role may do `what`.
    pub fn need(&self, what: Can) -> Result<(), ConsoleError> {
        if allows(self.role, what) {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden {
                role: self.role,
                needs: roles_for(what),
            })
        }
    }

    pub fn can(&self, what: Can) -> bool {
        allows(self.role, what)
    }

    /// Refuses (403) a form without this session's CSRF token.
    pub fn check_csrf(&self, form: &Form) -> Result<(), ConsoleError> {
        match form.get("csrf") {
            Some(token) if same_token(token, &self.csrf) => Ok(()),
            _ => {
                tracing::warn!(staff = %self.name, "console form without its CSRF token refused");
                Err(ConsoleError::Csrf)
            }
        }
    }
}

/// 303 to the sign-in page (`?expired=1` says the session ended), the session cookie gone.
pub fn to_sign_in(expired: bool, https: bool) -> Response {
    let location = if expired {
        "/console/sign-in?expired=1"
    } else {
        "/console/sign-in"
    };
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut()
        .insert(LOCATION, HeaderValue::from_static(location));
    if expired {
        r.headers_mut()
            .append(SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0, https, true));
    }
    r
}

impl<S: HubStore> FromRequestParts<AppState<S>> for Staff {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState<S>,
    ) -> Result<Self, Self::Rejection> {
        let https = is_https(&parts.headers);
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).filter(|t| !t.is_empty()) else {
            return Err(to_sign_in(false, https));
        };
        let token_hash = sha256(token.as_bytes());
        let idle_ms = app.console.idle.num_milliseconds();
        match app
            .store
            .staff_session(token_hash, idle_ms, Utc::now())
            .await
        {
            Ok(Some(s)) => Ok(Staff {
                name: s.name,
                role: s.role,
                csrf: s.csrf,
                token_hash,
            }),
            Ok(None) => Err(to_sign_in(true, https)),
            Err(e) => Err(ConsoleError::Store(e).into_response()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn passwords_hash_as_argon2id_and_check() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(password_matches(Some(&hash), "correct horse battery"));
        assert!(!password_matches(Some(&hash), "correct horse batterY"));
        assert!(!password_matches(None, "correct horse battery"));
        assert!(!password_matches(
            Some("not a hash"),
            "correct horse battery"
        ));
        assert_ne!(hash, hash_password("correct horse battery").unwrap());
        assert_eq!(hash_password("short"), Err(PasswordError::TooShort));
    }

    #[test]
    fn names_and_cookies() {
        assert!(check_name("hanako.sato").is_ok());
        assert!(check_name("").is_err() && check_name("a b").is_err());
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; tenpo_console=xyz; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "c"), None);
        assert!(!is_https(&h));
        h.insert("x-forwarded-proto", HeaderValue::from_static("HTTPS"));
        assert!(is_https(&h));
        let c = set_cookie(SESSION_COOKIE, "t", 60, true, true);
        let c = c.to_str().unwrap();
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(same_token("abc", "abc") && !same_token("abc", "abd") && !same_token("ab", "abc"));
    }
}
