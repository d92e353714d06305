//! The change feed's opaque cursor: base64url of `v1:{epoch}:{position}`.
//!
//! `epoch` names the hub database (made at its creation): a cursor from another database, or
//! from before a restore, is refused with `cursor_reset`. `position` is a place in the change
//! log, never a timestamp.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A place in one hub database's change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPosition {
    pub epoch: String,
    pub position: u64,
}

/// Why a cursor cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the cursor is damaged ({0}): start again from an empty cursor")]
pub struct CursorError(pub &'static str);

pub fn encode(p: &FeedPosition) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{}:{}", p.epoch, p.position))
}

/// `None` for an empty cursor (start from the beginning).
pub fn decode(cursor: &str) -> Result<Option<FeedPosition>, CursorError> {
    let cursor = cursor.trim();
    if cursor.is_empty() {
        return Ok(None);
    }
    if cursor.len() > 200 {
        return Err(CursorError("too long"));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| CursorError("not base64url"))?;
    let text = String::from_utf8(bytes).map_err(|_| CursorError("not text"))?;
    let mut parts = text.split(':');
    let (Some("v1"), Some(epoch), Some(pos), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(CursorError("unknown format"));
    };
    if epoch.is_empty() || !epoch.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CursorError("bad epoch"));
    }
    let position = pos.parse().map_err(|_| CursorError("bad position"))?;
    Ok(Some(FeedPosition {
        epoch: epoch.to_owned(),
        position,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let p = FeedPosition {
            epoch: "abc123".into(),
            position: 42,
        };
        assert_eq!(decode(&encode(&p)), Ok(Some(p)));
        assert_eq!(decode(""), Ok(None));
        assert!(decode("!!!").is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("v2:ab:1")).is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("v1:zz:1")).is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("v1:ab:-1")).is_err());
    }
}
