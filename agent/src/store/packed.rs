//! How the member cache stores a member's state: a few dozen bytes, not JSON.
//!
//! A terminal caches every member of the chain (1,000,000 at the largest), and docs/design.md §8
//! gives the cache 300 bytes a member on disk. As JSON a typical state took 190 bytes, most of
//! them field names and dates spelt out; packed, the same state takes about 45. The ledger and
//! the outbox keep JSON (their bytes are what is hashed, pushed and exported); only the cache,
//! which can be rebuilt from the hub, is packed.
//!
//! The first byte says how the rest is written:
//! - [`PACKED_V1`]: postcard (<https://postcard.jamesmunns.com/>) of [`Packed`], dates as days
//!   since 1970-01-01;
//! - `{`: JSON, as every state was written before schema version 5. Such rows are read as they
//!   are and packed the next time they are written.

use serde::{Deserialize, Serialize};
use tenpo_loyalty::{Coupon, CouponBenefit, Date, MemberState, PointLot, Points, StampCard, Yen};

use super::StoreError;

/// The tag of the first packed layout.
const PACKED_V1: u8 = 1;

/// [`MemberState`] with every date as a day number and nothing named.
#[derive(Serialize, Deserialize)]
struct Packed {
    lots: Vec<Lot>,
    stamps: u32,
    last_stamp_on: Option<i64>,
    stamp_days: Vec<i64>,
    coupons: Vec<PackedCoupon>,
    spend: Vec<(i64, Yen)>,
}

#[derive(Serialize, Deserialize)]
struct Lot {
    lot_id: String,
    earned_on: i64,
    expires_on: i64,
    points: Points,
}

#[derive(Serialize, Deserialize)]
struct PackedCoupon {
    coupon_id: String,
    benefit: Benefit,
    valid_from: i64,
    valid_until: i64,
}

/// [`CouponBenefit`] without its JSON tag (postcard writes the variant's index).
#[derive(Serialize, Deserialize)]
enum Benefit {
    Discount(Yen),
    PointsBonus(Points),
}

fn day(date: Date) -> i64 {
    date.days_since_epoch()
}

/// The state's bytes for the cache.
pub(crate) fn pack(state: &MemberState) -> Result<Vec<u8>, StoreError> {
    let packed = Packed {
        lots: state
            .lots
            .iter()
            .map(|l| Lot {
                lot_id: l.lot_id.clone(),
                earned_on: day(l.earned_on),
                expires_on: day(l.expires_on),
                points: l.points,
            })
            .collect(),
        stamps: state.stamps.count,
        last_stamp_on: state.stamps.last_stamp_on.map(day),
        stamp_days: state.stamps.days.iter().copied().map(day).collect(),
        coupons: state
            .coupons
            .values()
            .map(|c| PackedCoupon {
                coupon_id: c.coupon_id.clone(),
                benefit: match c.benefit {
                    CouponBenefit::Discount { value_yen } => Benefit::Discount(value_yen),
                    CouponBenefit::PointsBonus { points } => Benefit::PointsBonus(points),
                },
                valid_from: day(c.valid_from),
                valid_until: day(c.valid_until),
            })
            .collect(),
        spend: state.spend.iter().map(|(d, y)| (day(*d), *y)).collect(),
    };
    postcard::to_extend(&packed, vec![PACKED_V1])
        .map_err(|e| StoreError::Bug(format!("packing a member state: {e}")))
}

/// A state from the cache's bytes, packed or (written before schema version 5) JSON.
pub(crate) fn unpack(what: &'static str, bytes: &[u8]) -> Result<MemberState, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt { what, detail };
    match bytes.first() {
        Some(&PACKED_V1) => {
            let packed: Packed =
                postcard::from_bytes(&bytes[1..]).map_err(|e| corrupt(e.to_string()))?;
            let date = |days: i64| {
                Date::from_days_since_epoch(days)
                    .ok_or_else(|| corrupt(format!("day {days} is outside the calendar")))
            };
            let mut state = MemberState {
                stamps: StampCard {
                    count: packed.stamps,
                    last_stamp_on: packed.last_stamp_on.map(date).transpose()?,
                    days: packed
                        .stamp_days
                        .into_iter()
                        .map(date)
                        .collect::<Result<_, _>>()?,
                },
                ..MemberState::default()
            };
            for lot in packed.lots {
                state.lots.push(PointLot {
                    lot_id: lot.lot_id,
                    earned_on: date(lot.earned_on)?,
                    expires_on: date(lot.expires_on)?,
                    points: lot.points,
                });
            }
            for c in packed.coupons {
                let benefit = match c.benefit {
                    Benefit::Discount(value_yen) => CouponBenefit::Discount { value_yen },
                    Benefit::PointsBonus(points) => CouponBenefit::PointsBonus { points },
                };
                let coupon = Coupon {
                    coupon_id: c.coupon_id,
                    benefit,
                    valid_from: date(c.valid_from)?,
                    valid_until: date(c.valid_until)?,
                };
                state.coupons.insert(coupon.coupon_id.clone(), coupon);
            }
            for (d, yen) in packed.spend {
                state.spend.insert(date(d)?, yen);
            }
            Ok(state)
        }
        Some(b'{') => serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string())),
        Some(tag) => Err(corrupt(format!("unknown encoding {tag}"))),
        None => Err(corrupt("empty".into())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn rich() -> MemberState {
        let mut state = MemberState::default();
        state.lots.push(PointLot {
            lot_id: "import-2100000000005".into(),
            earned_on: d("2026-12-03"),
            expires_on: d("2027-12-31"),
            points: 50,
        });
        state.lots.push(PointLot {
            lot_id: "s-2".into(),
            earned_on: d("2026-12-04"),
            expires_on: d("2028-01-31"),
            points: 1_000_000,
        });
        state.stamps = StampCard {
            count: 3,
            last_stamp_on: Some(d("2026-12-04")),
            days: [d("2026-12-01"), d("2026-12-04")].into_iter().collect(),
        };
        for (id, benefit) in [
            ("c1", CouponBenefit::Discount { value_yen: 300 }),
            ("c2", CouponBenefit::PointsBonus { points: 20 }),
        ] {
            state.coupons.insert(
                id.into(),
                Coupon {
                    coupon_id: id.into(),
                    benefit,
                    valid_from: d("0001-01-01"),
                    valid_until: d("9999-12-31"),
                },
            );
        }
        state.spend.insert(d("2026-12-03"), 1000);
        state.spend.insert(d("2026-12-04"), -250);
        state
    }

    #[test]
    fn a_state_comes_back_as_it_went_in() {
        for state in [MemberState::default(), rich()] {
            let bytes = pack(&state).unwrap();
            assert_eq!(bytes[0], PACKED_V1);
            assert_eq!(unpack("state", &bytes).unwrap(), state);
        }
    }

    #[test]
    fn a_typical_state_is_a_quarter_of_its_json() {
        let mut state = rich();
        state.lots.truncate(1);
        state.stamps = StampCard::default();
        state.coupons.clear();
        state.spend.remove(&d("2026-12-04"));
        let json = serde_json::to_vec(&state).unwrap();
        let packed = pack(&state).unwrap();
        assert_eq!(json.len(), 190);
        assert!(
            packed.len() * 4 <= json.len(),
            "{} bytes packed",
            packed.len()
        );
    }

    #[test]
    fn json_written_before_version_5_is_still_read() {
        let state = rich();
        let json = serde_json::to_vec(&state).unwrap();
        assert_eq!(unpack("state", &json).unwrap(), state);
    }

    #[test]
    fn damaged_bytes_are_an_error_not_a_panic() {
        let good = pack(&rich()).unwrap();
        let mut cases: Vec<Vec<u8>> = vec![vec![], vec![9, 1, 2], b"{\"lots\":".to_vec()];
        // Every truncation of a good state.
        cases.extend((1..good.len()).map(|n| good[..n].to_vec()));
        // A day far outside the calendar where the first lot's earned day is.
        let mut absurd = MemberState::default();
        absurd.lots.push(PointLot {
            lot_id: "x".into(),
            earned_on: d("2026-12-03"),
            expires_on: d("2026-12-03"),
            points: 1,
        });
        let mut bytes = pack(&absurd).unwrap();
        // [tag, lots len, id len, 'x', earned_on varint (3 bytes) ...]: make earned_on huge.
        bytes.splice(
            4..7,
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        );
        cases.push(bytes);
        for case in cases {
            assert!(
                matches!(unpack("state", &case), Err(StoreError::Corrupt { .. })),
                "{case:?}"
            );
        }
    }
}
