//! Members' wishes and the notifications they bring (docs/design.md §11), for both backends:
//! a wish taken from a till's event or from LINE, a notification written when the catalogue
//! brings the wish's moment (in the member's channel, within their weekly number), and a
//! purchase of the item counted for the first notification of it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tenpo_protocol::events::{RefundEvent, SaleEvent, WishKind};

use super::catalog::ItemRow;
use super::line::LineStatements;
use crate::store::StoreError;
use crate::store::outbox::{Channel, MessageAction, MessageClass, NewMessage, Profile};
use crate::wishes::{NoticeBody, WishNotice, WishSettings};

/// A wish as held: one per member, item (as asked) and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WishRow {
    pub member_id: String,
    /// As asked: a barcode or a sku.
    pub item: String,
    pub kind: WishKind,
    /// The catalogue's item, once it has it.
    pub sku: Option<String>,
    /// The store whose stock it watches; any store when `None`.
    pub store_id: Option<String>,
    /// The price when wished.
    pub price_yen: Option<i64>,
    /// Notified in this episode.
    pub fired: bool,
}

/// How a member can be reached, besides their profile's choices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Reach {
    /// Their linked LINE user (personal data: never logged).
    pub line_user: Option<String>,
    /// Whether that user follows the account (`None`: not seen).
    pub following: Option<bool>,
    /// They followed an email's unsubscribe link.
    pub email_unsubscribed: bool,
}

/// A notification to write.
#[derive(Debug, Clone)]
pub(crate) struct NewNotification<'a> {
    pub link_id: &'a str,
    pub member_id: &'a str,
    pub sku: &'a str,
    pub kind: WishKind,
    pub channel: Channel,
    pub store_id: Option<&'a str>,
    pub price_yen: i64,
    pub was_price_yen: Option<i64>,
    /// LINE's outbox row that carries it.
    pub message_row: Option<i64>,
    pub not_before_ms: i64,
}

/// A notification as purchases are counted against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentNotice {
    pub id: i64,
    pub sku: String,
    pub created_ms: i64,
}

/// A purchase counted for a notification.
#[derive(Debug, Clone)]
pub(crate) struct NewAttribution<'a> {
    pub terminal_id: &'a str,
    pub sale_id: &'a str,
    pub sku: &'a str,
    pub notification_id: i64,
    pub quantity: i64,
    pub yen: i64,
    pub occurred_at: &'a str,
}

/// The statements of wishes and notifications.
pub(crate) trait WishStatements: LineStatements {
    /// Writes a wish unless the member has it; answers whether it was new.
    async fn insert_wish(
        &mut self,
        wish: &WishRow,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// The catalogue's item a code (sku or barcode) names.
    async fn item_for(&mut self, code: &str) -> Result<Option<ItemRow>, StoreError>;
    /// Every wish on these skus.
    async fn wishes_on(&mut self, skus: &[&str]) -> Result<Vec<WishRow>, StoreError>;
    /// Marks wishes notified in this episode (`true`) or armed again (`false`).
    async fn set_fired(&mut self, wishes: &[&WishRow], fired: bool) -> Result<(), StoreError>;
    async fn reach(&mut self, member_id: &str) -> Result<Reach, StoreError>;
    /// When the member's notifications since `since_ms` are (or were) to be sent.
    async fn scheduled_since(
        &mut self,
        member_id: &str,
        since_ms: i64,
    ) -> Result<Vec<i64>, StoreError>;
    /// The outbox row written for the member under `dedupe_key`.
    async fn message_row(
        &mut self,
        member_id: &str,
        dedupe_key: &str,
    ) -> Result<Option<i64>, StoreError>;
    async fn insert_notification(
        &mut self,
        n: &NewNotification<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError>;
    /// The member's notifications queued since `since_ms`, oldest first.
    async fn notifications_since(
        &mut self,
        member_id: &str,
        since_ms: i64,
    ) -> Result<Vec<SentNotice>, StoreError>;
    /// Counts a sale's line for a notification, once per terminal, sale and sku.
    async fn attribute(&mut self, a: &NewAttribution<'_>) -> Result<(), StoreError>;
    /// Takes `yen` off what a sale's line brought a notification (never below nothing).
    async fn refund_attributed(
        &mut self,
        terminal_id: &str,
        sale_id: &str,
        sku: &str,
        yen: i64,
    ) -> Result<(), StoreError>;
}

/// What notifying needs besides the wish.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Notifying<'a> {
    pub settings: &'a WishSettings,
    pub now: DateTime<Utc>,
}

const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;
/// How long after a notification a member's sales are looked at: the longest attribution
/// window `[wishes]` allows, and a day.
pub(crate) const NOTICE_REACH_MS: i64 = 91 * DAY_MS;

/// Takes a member's wish for `item` (a barcode or sku), one per kind wanted; the catalogue's
/// item and its price now when the hub has it, else the wish waits for the feed to bring it.
/// Answers how many were new.
pub(crate) async fn take(
    db: &mut impl WishStatements,
    member_id: &str,
    item: &str,
    wants: &[WishKind],
    store_id: Option<&str>,
    source: &str,
    now: DateTime<Utc>,
) -> Result<u32, StoreError> {
    let known = db.item_for(item).await?;
    let mut new = 0;
    let mut kinds = wants.to_vec();
    kinds.sort_unstable();
    kinds.dedup();
    for kind in kinds {
        let wish = WishRow {
            member_id: member_id.to_owned(),
            item: item.to_owned(),
            kind,
            sku: known.as_ref().map(|i| i.sku.clone()),
            store_id: store_id.map(str::to_owned),
            price_yen: known.as_ref().map(|i| i.price_yen),
            fired: false,
        };
        if db.insert_wish(&wish, source, now).await? {
            new += 1;
        }
    }
    if known.is_none() {
        tracing::info!(item, "a wish names an item the catalogue does not have yet");
    }
    Ok(new)
}

/// A wish a member made in LINE: their home store's stock is watched (any store's when they
/// have none yet).
pub(crate) async fn take_in_line(
    db: &mut impl WishStatements,
    member_id: &str,
    item: &str,
    wants: &[WishKind],
    now: DateTime<Utc>,
) -> Result<u32, StoreError> {
    let Some(member) = db.member_row(member_id).await? else {
        return Err(StoreError::NotFound(format!("no member {member_id}")));
    };
    if wants.is_empty() {
        return Err(StoreError::Invalid(
            "a wish wants restock, price_drop or last_one".into(),
        ));
    }
    let store = member.home_store.as_deref();
    take(db, member_id, item, wants, store, "line", now).await
}

/// The channel a notification goes by: the member's choice when it can reach them, else the
/// other one; `None` when neither can (the wish stays armed).
fn channel(settings: &WishSettings, profile: &Profile, reach: &Reach) -> Option<Channel> {
    let email = settings.email && profile.email.is_some() && !reach.email_unsubscribed;
    let line = settings.line && reach.line_user.is_some() && reach.following != Some(false);
    match profile.channel {
        Channel::Email if email => Some(Channel::Email),
        _ if line => Some(Channel::Line),
        _ if email => Some(Channel::Email),
        _ => None,
    }
}

/// When a new notification may go so that at most `per_week` go in any 7 days: now, or a week
/// after the one `per_week` places back.
fn scheduled(mut times: Vec<i64>, per_week: u32, now_ms: i64) -> i64 {
    let cap = per_week.max(1) as usize;
    if times.len() < cap {
        return now_ms;
    }
    times.sort_unstable();
    let at = times[times.len() - cap].saturating_add(WEEK_MS);
    at.max(now_ms)
}

/// Notifies a wish whose moment came (`price_now`; `was` for a price drop): a notification in
/// the member's channel, and the wish marked for this episode. Answers `false` when the member
/// cannot be reached (the wish stays armed).
pub(crate) async fn notify(
    db: &mut impl WishStatements,
    ctx: &Notifying<'_>,
    wish: &WishRow,
    item: &ItemRow,
    price_now: i64,
    was: Option<i64>,
) -> Result<bool, StoreError> {
    let member_id = wish.member_id.as_str();
    let profile = db
        .profile_row(member_id)
        .await?
        .unwrap_or_default()
        .profile();
    let reach = db.reach(member_id).await?;
    let Some(channel) = channel(ctx.settings, &profile, &reach) else {
        return Ok(false);
    };
    let now_ms = ctx.now.timestamp_millis();
    let times = db
        .scheduled_since(member_id, now_ms.saturating_sub(WEEK_MS))
        .await?;
    let not_before_ms = scheduled(times, ctx.settings.per_week, now_ms);
    // Unguessable: the link is the only thing a click shows.
    let link_id = hex::encode(crate::secrets::random_bytes::<16>()?);
    let mut message_row = None;
    if let (Channel::Line, Some(line_user)) = (channel, reach.line_user.as_deref()) {
        let notice = WishNotice {
            kind: wish.kind,
            language: profile.language,
            item_ja: item.name_ja.clone(),
            item_en: item.name_en.clone(),
            price_yen: price_now,
            was_price_yen: was,
            store_id: wish.store_id.clone(),
            link: crate::wishes::link(ctx.settings, &link_id, item.url.as_deref()),
            image_url: item.image_url.clone(),
        };
        let said_json = crate::store::to_json(&NoticeBody {
            wish: notice.clone(),
        })?;
        let message = NewMessage {
            scenario: notice.scenario(),
            class: MessageClass::Requested,
            action: MessageAction::Compose { said_json },
            expires_after: Some(chrono::Duration::days(7)),
        };
        let key = format!("wish:{link_id}");
        db.enqueue(&key, Some(member_id), line_user, &message, ctx.now)
            .await?;
        message_row = db.message_row(member_id, &key).await?;
        if let Some(row) = message_row
            && not_before_ms > now_ms
        {
            db.set_not_before(row, not_before_ms).await?;
        }
    }
    let sku = wish.sku.as_deref().unwrap_or(&item.sku);
    let n = NewNotification {
        link_id: &link_id,
        member_id,
        sku,
        kind: wish.kind,
        channel,
        store_id: wish.store_id.as_deref(),
        price_yen: price_now,
        was_price_yen: was,
        message_row,
        not_before_ms,
    };
    db.insert_notification(&n, ctx.now).await?;
    db.set_fired(&[wish], true).await?;
    Ok(true)
}

/// The time of an RFC 3339 text in milliseconds.
fn millis(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Counts a member's sale for the notifications it follows: each sku sold within
/// `attribution_days` after a notification of it goes to the first such notification.
/// `notified_until` is the member's row's: a sale after it follows no notification, and is
/// not looked at.
pub(crate) async fn attribute_sale(
    db: &mut impl WishStatements,
    settings: &WishSettings,
    notified_until: i64,
    terminal_id: &str,
    member_id: &str,
    sale: &SaleEvent,
) -> Result<(), StoreError> {
    let Some(sold_ms) = millis(&sale.occurred_at) else {
        return Ok(());
    };
    if sold_ms > notified_until {
        return Ok(());
    }
    let window = i64::from(settings.attribution_days).saturating_mul(DAY_MS);
    let notices = db
        .notifications_since(member_id, sold_ms.saturating_sub(window))
        .await?;
    if notices.is_empty() {
        return Ok(());
    }
    let mut by_sku: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for line in &sale.lines {
        let t = by_sku.entry(line.sku.as_str()).or_default();
        t.0 = t.0.saturating_add(line.quantity);
        t.1 = t.1.saturating_add(line.amount_yen);
    }
    for (sku, (quantity, yen)) in by_sku {
        let first = notices
            .iter()
            .find(|n| n.sku == sku && n.created_ms <= sold_ms);
        if let Some(n) = first {
            let a = NewAttribution {
                terminal_id,
                sale_id: &sale.sale_id,
                sku,
                notification_id: n.id,
                quantity,
                yen,
                occurred_at: &sale.occurred_at,
            };
            db.attribute(&a).await?;
        }
    }
    Ok(())
}

/// Takes a refund's lines off what their sale brought its notifications.
pub(crate) async fn attribute_refund(
    db: &mut impl WishStatements,
    terminal_id: &str,
    refund: &RefundEvent,
) -> Result<(), StoreError> {
    for line in &refund.lines {
        db.refund_attributed(terminal_id, &refund.sale_id, &line.sku, line.amount_yen)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_per_week_go_in_any_seven_days() {
        let now = 100 * DAY_MS;
        assert_eq!(scheduled(vec![], 3, now), now);
        assert_eq!(scheduled(vec![now - DAY_MS, now - 2 * DAY_MS], 3, now), now);
        // Three in the week: the fourth waits a week after the oldest of the three.
        let three = vec![now - DAY_MS, now - 5 * DAY_MS, now - 2 * DAY_MS];
        assert_eq!(scheduled(three, 3, now), now + 2 * DAY_MS);
        // Already waiting ones count: a fifth waits a week after the second.
        let four = vec![
            now - 5 * DAY_MS,
            now - 2 * DAY_MS,
            now - DAY_MS,
            now + 2 * DAY_MS,
        ];
        assert_eq!(scheduled(four, 3, now), now + 5 * DAY_MS);
    }

    #[test]
    fn the_members_channel_unless_it_cannot_reach_them() {
        let on = WishSettings {
            line: true,
            email: true,
            ..WishSettings::default()
        };
        let linked = Reach {
            line_user: Some("U1".into()),
            following: Some(true),
            email_unsubscribed: false,
        };
        let mut profile = Profile::default();
        assert_eq!(channel(&on, &profile, &linked), Some(Channel::Line));
        profile.channel = Channel::Email;
        // Chose email but gave no address: LINE.
        assert_eq!(channel(&on, &profile, &linked), Some(Channel::Line));
        profile.email = Some("a@example.jp".into());
        assert_eq!(channel(&on, &profile, &linked), Some(Channel::Email));
        profile.channel = Channel::Line;
        let blocked = Reach {
            following: Some(false),
            ..linked.clone()
        };
        assert_eq!(channel(&on, &profile, &blocked), Some(Channel::Email));
        let gone = Reach {
            email_unsubscribed: true,
            ..blocked
        };
        assert_eq!(channel(&on, &profile, &gone), None);
        let no_email = WishSettings { email: false, ..on };
        assert_eq!(
            channel(&no_email, &profile, &Reach::default()),
            None,
            "nobody to write to"
        );
    }
}
