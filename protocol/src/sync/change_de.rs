//! Reading a [`Change`]: its `kind` first, then its fields straight from the input
//! (`crate::tagged`), instead of serde's copy of every change.

use serde::de::{self, Deserialize, Deserializer};

use super::{Change, MemberSnapshot};
use crate::signup::SignupCompletion;
use crate::tagged::{self, Tagged};
use tenpo_loyalty::RuleSet;

impl<'de> Deserialize<'de> for Change {
    fn deserialize<D: Deserializer<'de>>(input: D) -> Result<Change, D::Error> {
        tagged::deserialize(input)
    }
}

/// Each variant's `kind`, as `Change`'s `Serialize` writes it.
const KINDS: &[&str] = &[
    "member",
    "member_removed",
    "rule_set",
    "code_revoked",
    "signing_key",
    "signup_completed",
];

impl Tagged for Change {
    const TAG: &'static str = "kind";
    const EXPECTING: &'static str = "a change: an object with a `kind`";

    fn read<'de, D: Deserializer<'de>>(kind: &str, fields: D) -> Result<Change, D::Error> {
        #[derive(serde::Deserialize)]
        struct Member {
            member: MemberSnapshot,
        }
        #[derive(serde::Deserialize)]
        struct MemberRemoved {
            member_id: String,
        }
        #[derive(serde::Deserialize)]
        struct Rules {
            rules: RuleSet,
        }
        #[derive(serde::Deserialize)]
        struct CodeRevoked {
            code: String,
        }
        #[derive(serde::Deserialize)]
        struct SigningKey {
            key_id: u32,
            public_key: String,
        }
        #[derive(serde::Deserialize)]
        struct Signup {
            signup: SignupCompletion,
        }
        Ok(match kind {
            "member" => Change::Member {
                member: Member::deserialize(fields)?.member,
            },
            "member_removed" => Change::MemberRemoved {
                member_id: MemberRemoved::deserialize(fields)?.member_id,
            },
            "rule_set" => Change::RuleSet {
                rules: Rules::deserialize(fields)?.rules,
            },
            "code_revoked" => Change::CodeRevoked {
                code: CodeRevoked::deserialize(fields)?.code,
            },
            "signing_key" => {
                let SigningKey { key_id, public_key } = SigningKey::deserialize(fields)?;
                Change::SigningKey { key_id, public_key }
            }
            "signup_completed" => Change::SignupCompleted {
                signup: Signup::deserialize(fields)?.signup,
            },
            other => return Err(de::Error::unknown_variant(other, KINDS)),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::signup::SignupKind;

    /// One change of every kind. The match makes a new variant a compile error here until it
    /// has a sample, and its sample then fails the round trip until `Change::read` reads it.
    fn one_of_each() -> Vec<Change> {
        let samples = vec![
            Change::Member {
                member: MemberSnapshot {
                    merged_ids: vec!["p1".into()],
                    ..crate::sync::tests::sample_member()
                },
            },
            Change::MemberRemoved {
                member_id: "m2".into(),
            },
            Change::RuleSet {
                rules: RuleSet::demo(),
            },
            Change::CodeRevoked {
                code: "2000000000022".into(),
            },
            Change::SigningKey {
                key_id: 7,
                public_key: "AA==".into(),
            },
            Change::SignupCompleted {
                signup: SignupCompletion {
                    signup_id: "s1".into(),
                    kind: SignupKind::CardLink,
                    store_id: "store-1".into(),
                    terminal_id: "t1".into(),
                    member_id: "m1".into(),
                    member_number: "2000000000015".into(),
                    completed_at: Utc.with_ymd_and_hms(2026, 12, 4, 9, 30, 0).unwrap(),
                },
            },
        ];
        let mut seen = [false; 6];
        for change in &samples {
            seen[match change {
                Change::Member { .. } => 0,
                Change::MemberRemoved { .. } => 1,
                Change::RuleSet { .. } => 2,
                Change::CodeRevoked { .. } => 3,
                Change::SigningKey { .. } => 4,
                Change::SignupCompleted { .. } => 5,
            }] = true;
        }
        assert!(seen.iter().all(|s| *s), "a sample of every kind");
        samples
    }

    #[test]
    fn every_kind_reads_back_as_written() {
        for change in one_of_each() {
            let json = serde_json::to_string(&change).unwrap();
            assert!(
                json.starts_with(r#"{"kind":"#),
                "the tag comes first: {json}"
            );
            let back: Change = serde_json::from_str(&json).unwrap();
            assert_eq!(back, change);
            let from_bytes: Change = serde_json::from_slice(json.as_bytes()).unwrap();
            assert_eq!(from_bytes, change);
        }
    }

    #[test]
    fn a_kind_after_the_fields_reads_the_same() {
        for change in one_of_each() {
            let mut object = serde_json::to_value(&change).unwrap();
            let kind = object.as_object_mut().unwrap().remove("kind").unwrap();
            let fields = serde_json::to_string(&object).unwrap();
            let json = format!(r#"{},"kind":{kind}}}"#, &fields[..fields.len() - 1]);
            assert!(
                !json.starts_with(r#"{"kind":"#),
                "the tag comes last: {json}"
            );
            assert_eq!(serde_json::from_str::<Change>(&json).unwrap(), change);
        }
    }

    #[test]
    fn fields_a_kind_does_not_know_are_ignored_wherever_the_kind_is() {
        let expected = Change::CodeRevoked {
            code: "2000000000022".into(),
        };
        for json in [
            r#"{"kind":"code_revoked","code":"2000000000022","reason":"lost"}"#,
            r#"{"reason":"lost","code":"2000000000022","kind":"code_revoked"}"#,
        ] {
            assert_eq!(serde_json::from_str::<Change>(json).unwrap(), expected);
        }
    }

    #[test]
    fn a_change_that_does_not_read_says_what_is_wrong() {
        let cases = [
            (r#"{}"#, "missing field `kind`"),
            (r#"{"code":"2000000000022"}"#, "missing field `kind`"),
            (
                r#"{"kind":"coupon","code":"1"}"#,
                "unknown variant `coupon`",
            ),
            (
                r#"{"code":"1","kind":"coupon"}"#,
                "unknown variant `coupon`",
            ),
            (r#"{"kind":"code_revoked"}"#, "missing field `code`"),
            (
                r#"{"member_id":"m1","kind":"code_revoked"}"#,
                "missing field `code`",
            ),
            (
                r#"{"kind":"signing_key","key_id":-1,"public_key":"AA=="}"#,
                "invalid value",
            ),
            (
                r#"{"kind":7}"#,
                "invalid type: integer `7`, expected a string",
            ),
            (
                r#"{"code":"1","kind":null}"#,
                "invalid type: null, expected a string",
            ),
            (r#"["code_revoked","1"]"#, "expected a change"),
            (r#""member""#, "expected a change"),
            (
                r#"{"kind":"member","member":{"member_id":"m1"}}"#,
                "missing field `number`",
            ),
            (r#"{"kind":"member","member":{"member_id":"m1""#, "EOF"),
        ];
        for (json, says) in cases {
            let err = serde_json::from_str::<Change>(json)
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{json}: {err}");
        }
    }
}
