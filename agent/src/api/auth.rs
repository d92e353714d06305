//! The local API's write token: made on first start in `<data-dir>/api-token`, readable by the
//! agent's user only; writes carry it as `Authorization: Bearer <token>`.

// Compares without leaking, through timing, how much of the token matched (`subtle`).
use std::io::Write;
use std::path::{Path, PathBuf};
use tenpo_protocol::signup::same;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tenpo_protocol::ErrorCode;

use super::AppState;
use super::error::ApiError;

pub const TOKEN_FILE: &str = "api-token";

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot create the API token at {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the API token at {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the API token at {0} is empty or damaged: delete it and restart the agent to make a new one"
    )]
    Damaged(PathBuf),
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

/// Reads the token in `data_dir`, making it (mode 0600) if it does not exist yet.
pub fn load_or_create(data_dir: &Path) -> Result<String, TokenError> {
    let path = data_dir.join(TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let token = text.trim().to_owned();
            if token.len() < 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(TokenError::Damaged(path));
            }
            return Ok(token);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(TokenError::Read { path, source }),
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let create = |source| TokenError::Create {
        path: path.clone(),
        source,
    };
    let mut file = options.open(&path).map_err(create)?;
    file.write_all(format!("{token}\n").as_bytes())
        .map_err(create)?;
    file.sync_all().map_err(create)?;
    tracing::info!(path = %path.display(), "created the local API token");
    Ok(token)
}

/// Middleware for write routes: the bearer token or 401.
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(token) if same(token.as_bytes(), state.token.as_bytes()) => next.run(request).await,
        Some(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "wrong API token: use the token in <data-dir>/api-token",
        )
        .into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "writes need `Authorization: Bearer <token>` with the token in <data-dir>/api-token",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn compares_whole_tokens() {
        assert!(super::same(b"abcd", b"abcd"));
        assert!(!super::same(b"abcd", b"abce"));
        assert!(!super::same(b"abcd", b"abc"));
    }
}
