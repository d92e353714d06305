//! The change feed's opaque cursor: base64url of `v2:{epoch}:{run}:{position}`.
//!
//! - `epoch` names the hub database (made at its creation): a cursor from another database is
//!   refused with `cursor_reset`.
//! - `run` names the hub process that served the page (a new one at every start). A database
//!   restored from a backup does not know the runs that came after the backup, nor how far the
//!   run that was going when the backup was taken got, so a cursor from the lost part of the
//!   history is refused even after new changes have refilled the log past its position.
//! - `position` is a place in the change log, never a timestamp.
//!
//! `v1:{epoch}:{position}` cursors (from hubs before runs were recorded) are still read, with
//! only the epoch and log-end checks, so that an upgrade does not make every terminal start again.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub use crate::store::model::FeedPosition;

/// Why a cursor cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the cursor is damaged ({0}): start again from an empty cursor")]
pub struct CursorError(pub &'static str);

pub fn encode(p: &FeedPosition) -> String {
    match &p.run {
        Some(run) => URL_SAFE_NO_PAD.encode(format!("v2:{}:{run}:{}", p.epoch, p.position)),
        None => URL_SAFE_NO_PAD.encode(format!("v1:{}:{}", p.epoch, p.position)),
    }
}

fn hex_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
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
    let parts: Vec<&str> = text.split(':').collect();
    let (epoch, run, position) = match parts.as_slice() {
        ["v1", epoch, position] => (*epoch, None, *position),
        ["v2", epoch, run, position] => (*epoch, Some(*run), *position),
        _ => return Err(CursorError("unknown format")),
    };
    if !hex_id(epoch) {
        return Err(CursorError("bad epoch"));
    }
    if run.is_some_and(|r| !hex_id(r)) {
        return Err(CursorError("bad run"));
    }
    let position = position.parse().map_err(|_| CursorError("bad position"))?;
    Ok(Some(FeedPosition {
        epoch: epoch.to_owned(),
        run: run.map(str::to_owned),
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
            run: Some("0f1e".into()),
            position: 42,
        };
        assert_eq!(decode(&encode(&p)), Ok(Some(p)));
        assert_eq!(decode(""), Ok(None));
        assert!(decode("!!!").is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("v3:ab:cd:1")).is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("v1:zz:1")).is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("v1:ab:-1")).is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("v2:ab:1")).is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("v2:ab::1")).is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("v2:ab:xy:1")).is_err());
    }

    #[test]
    fn reads_cursors_from_before_runs_were_recorded() {
        let old = URL_SAFE_NO_PAD.encode("v1:ab12:7");
        let p = FeedPosition {
            epoch: "ab12".into(),
            run: None,
            position: 7,
        };
        assert_eq!(decode(&old), Ok(Some(p.clone())));
        assert_eq!(encode(&p), old);
    }
}
