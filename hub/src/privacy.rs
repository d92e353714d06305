//! What the program's terms say about a member who asks to be erased (docs/design.md §7): the
//! `[privacy]` table of hub.toml.
//!
//! ```toml
//! [privacy]
//! # A member who is erased loses the points they held (the program's terms); false keeps
//! # them on the anonymous ledger, where nobody can use them.
//! forfeit_points = true
//! ```

/// The `[privacy]` table as written.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySection {
    pub forfeit_points: Option<bool>,
}

/// What erasure does with a member's points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrivacySettings {
    /// Forfeited, recorded as an adjustment in the audit log.
    pub forfeit_points: bool,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        PrivacySettings {
            forfeit_points: true,
        }
    }
}

pub fn resolve(section: PrivacySection) -> PrivacySettings {
    PrivacySettings {
        forfeit_points: section
            .forfeit_points
            .unwrap_or(PrivacySettings::default().forfeit_points),
    }
}
