//! Which staff role may do what (docs/design.md §7, §13). A viewer reads everything and changes
//! nothing; IT looks after terminals and decides held outcomes; CRM changes members, issues
//! coupons and decides held outcomes; an admin does everything, rule sets included. The pages
//! and the navigation ask [`allows`], so what a role cannot do is not offered.

use crate::store::console::Role;

/// Something a page or an action needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Can {
    /// Members' files (personal data): not IT's business.
    ReadMembers,
    /// Terminals, review, program, reports, audit log: every role reads them.
    ReadOperations,
    /// Adjust points, replace a card, unlink LINE, issue a coupon.
    ChangeMembers,
    /// Release or dismiss an outcome held for review.
    DecideHeld,
    /// Load a new rule set.
    LoadRules,
}

/// The roles that may do `what`, most powerful first.
pub fn roles_for(what: Can) -> &'static [Role] {
    match what {
        Can::ReadMembers => &[Role::Admin, Role::Crm, Role::Viewer],
        Can::ReadOperations => &[Role::Admin, Role::Crm, Role::It, Role::Viewer],
        Can::ChangeMembers => &[Role::Admin, Role::Crm],
        Can::DecideHeld => &[Role::Admin, Role::Crm, Role::It],
        Can::LoadRules => &[Role::Admin],
    }
}

/// Whether `role` may do `what`.
pub fn allows(role: Role, what: Can) -> bool {
    roles_for(what).contains(&role)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewers_read_and_change_nothing() {
        assert!(allows(Role::Viewer, Can::ReadMembers));
        assert!(allows(Role::Viewer, Can::ReadOperations));
        for change in [Can::ChangeMembers, Can::DecideHeld, Can::LoadRules] {
            assert!(!allows(Role::Viewer, change), "{change:?}");
        }
    }

    #[test]
    fn each_role_does_its_own_work() {
        assert!(allows(Role::It, Can::DecideHeld));
        assert!(!allows(Role::It, Can::ReadMembers));
        assert!(!allows(Role::It, Can::ChangeMembers));
        assert!(allows(Role::Crm, Can::ChangeMembers));
        assert!(allows(Role::Crm, Can::DecideHeld));
        assert!(!allows(Role::Crm, Can::LoadRules));
        for what in [
            Can::ReadMembers,
            Can::ReadOperations,
            Can::ChangeMembers,
            Can::DecideHeld,
            Can::LoadRules,
        ] {
            assert!(allows(Role::Admin, what), "{what:?}");
        }
    }
}
